/**
 * The CLI's one long-lived connection to the cloud for what changes: a server-sent event stream
 * (`/api/cli/sessions/plan/events` for `run`, `/api/tunnel/{handle}/events` for `open`) that
 * delivers a new bind plan and revocation within about two seconds. When the stream breaks it is
 * opened again after a short pause; the periodic plan refresh stays as the fallback.
 * @module
 */
import { reachFailure } from "../shared/reach_error.ts";
import { cloudFetch } from "./trust.ts";

/** What the stream reports. */
export interface EventHandlers {
  /** A new plan (JSON as the plan endpoint answers it). */
  plan?: (data: unknown) => void;
  /** The credential was revoked or expired (also: the stream answered 401). */
  revoked: (message: string) => void;
  /** The stream could not be opened or broke (it is retried). */
  trouble?: (message: string) => void;
}

/** Parses a text/event-stream body into (event, data) pairs. */
export async function* parseEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<{ event: string; data: string }> {
  let buf = "";
  for await (const chunk of body.pipeThrough(new TextDecoderStream())) {
    buf = (buf + chunk).replaceAll("\r\n", "\n");
    let cut: number;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i < 0 ? line : line.slice(0, i);
        const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") event = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) yield { event, data: data.join("\n") };
    }
  }
}

/** Follows the stream at `url` until stopped or revoked; returns the stop function. */
export function followEvents(
  url: URL,
  token: string,
  on: EventHandlers,
  retryMs = 2_000,
): () => void {
  const ac = new AbortController();
  (async () => {
    while (!ac.signal.aborted) {
      try {
        const res = await cloudFetch(url, {
          headers: { authorization: `Bearer ${token}`, accept: "text/event-stream" },
          signal: ac.signal,
        });
        if (res.status === 401) {
          const body = await res.json().catch(() => ({})) as { message?: string };
          return on.revoked(body.message ?? "credentials revoked");
        }
        if (!res.ok || !res.body) {
          await res.body?.cancel();
          on.trouble?.(`event stream refused: ${res.status}`);
        } else {
          for await (const ev of parseEvents(res.body)) {
            if (ev.event === "revoked") {
              ac.abort();
              return on.revoked(JSON.parse(ev.data).message ?? "credentials revoked");
            }
            if (ev.event === "plan") on.plan?.(JSON.parse(ev.data));
          }
        }
      } catch (e) {
        if (ac.signal.aborted) return;
        on.trouble?.(`event stream broke: ${reachFailure(e)}`);
      }
      await new Promise((r) => setTimeout(r, retryMs));
    }
  })();
  return () => ac.abort();
}
