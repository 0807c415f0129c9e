/**
 * The terminal WebSocket protocol (`/api/terminal/{handle}`), spoken by the browser page and by
 * `nanodems-tunnel ssh`. Binary messages from the cloud are the device's output bytes (decoded as
 * UTF-8 by the client, across message boundaries); text messages are JSON. The client sends only
 * JSON text: its size first (`hello`), keystrokes and pastes (`input`), window changes
 * (`resize`) and, when the cloud holds no credentials and asks, one `login` — then `answers` to
 * any further keyboard-interactive `prompt` of the device (one-time codes).
 * @module
 */
import { z } from "zod";

const size = {
  cols: z.number().int().min(2).max(1000),
  rows: z.number().int().min(1).max(1000),
};

/**
 * The most questions one keyboard-interactive round may ask and be answered (a device asking more
 * is told no and the operator told why). Real rounds ask one or two; this leaves room for odd ones.
 */
export const MAX_PROMPTS = 64;

/** What the browser may send. */
export const clientMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("hello"), ...size }),
  z.object({ type: z.literal("input"), data: z.string().max(1 << 16) }),
  z.object({ type: z.literal("resize"), ...size }),
  z.object({
    type: z.literal("login"),
    username: z.string().min(1).max(256),
    password: z.string().max(1024),
  }),
  z.object({ type: z.literal("answers"), answers: z.array(z.string().max(1024)).max(MAX_PROMPTS) }),
]);

/** One parsed browser message. */
export type ClientMessage = z.infer<typeof clientMessage>;

/** What the cloud sends as text. */
export type ServerMessage =
  /** Progress for the status line ("connecting…", "connected as root@…"). */
  | { type: "status"; message: string }
  /** The cloud holds no credentials: ask the operator once (`retry` after a refused login). */
  | { type: "login"; message: string }
  /** The device asks more (keyboard-interactive: a one-time code…); answer with `answers`. */
  | {
    type: "prompt";
    name: string;
    instructions: string;
    prompts: { prompt: string; echo: boolean }[];
  }
  /** Something ends soon (idle timeout, maximum length). */
  | { type: "warning"; message: string }
  /** Why the session ended; the WebSocket closes right after. */
  | { type: "end"; message: string; error: string | null };

/** The subprotocol the cloud answers with (a browser also offers `csrf.<token>`). */
export const TERMINAL_PROTOCOL = "nc-terminal";

/** Parses a browser message; null for anything malformed. */
export function parseClientMessage(text: string): ClientMessage | null {
  try {
    const r = clientMessage.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
