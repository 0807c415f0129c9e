/**
 * An event's webhook body (producer.ts `eventBody`), or a digest's window of events
 * (alert_digest.ts), in the words the Events page's row uses —
 * what happened, to which device or agent on which site, the error, when, by whom, the live view
 * — read once for every way an alert reaches a person: an email (alert_mail.ts) and a chat
 * message (chat_message.ts). Every field is a plain string; the tenant chose the names, so each
 * writer escapes them for its own markup.
 * @module
 */
import { EVENT_LABELS } from "./labels.ts";
import type { EventType } from "../store/store.ts";

/** An event in words. */
export interface AlertWords {
  /** The event type (`device.down`, `webhook.test`…). */
  type: string;
  /** A test delivery ("Send test"), not an event. */
  test: boolean;
  /** What happened: the Events page's label (`Motion detected`), an alarm input named. */
  what: string;
  /** The device or agent. */
  name: string;
  /** Its site, or "". */
  site: string;
  /** The error the event carries, or "". */
  error: string;
  /** The camera's live view, when the event links one (a web address only). */
  live: string;
  /**
   * The camera's own recording of that moment, when the event links a live view: the live view
   * with `?at=` (it plays the recording from just before the event), or "".
   */
  recording: string;
  /**
   * A minute of that recording saved as a file, from just before the event: the live view with
   * `?clip=` (it asks the camera and starts the download), or "".
   */
  clip: string;
  /**
   * What the camera saw: a link that opens the picture without signing in, for a day
   * (picture_links.ts), when the event has one (a web address only), or "".
   */
  picture: string;
  /** When, as the body says it (ISO 8601). */
  at: string;
  /** Who or what caused it (`system`, `user:…`). */
  actor: string;
}

/** The part of the webhook body read here. */
interface Body {
  type?: unknown;
  at?: unknown;
  actor?: unknown;
  subject?: { name?: unknown; siteName?: unknown };
  detail?: Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** The words of one event body (JSON). */
export function alertWords(body: string): AlertWords {
  const e = JSON.parse(body) as Body;
  const type = str(e.type);
  const detail = e.detail && typeof e.detail === "object" ? e.detail : {};
  const test = type === "webhook.test";
  return {
    type,
    test,
    what: test ? "Test" : (EVENT_LABELS[type as EventType] ?? type) +
      (str(detail.input) ? ` (${str(detail.input)})` : ""),
    name: str(e.subject?.name),
    site: str(e.subject?.siteName),
    error: str(detail.error),
    live: /^https?:\/\//.test(str(detail.liveUrl)) ? str(detail.liveUrl) : "",
    recording: recordingLink(str(detail.liveUrl), str(e.at)),
    clip: recordingLink(str(detail.liveUrl), str(e.at), "clip"),
    picture: /^https?:\/\//.test(str(detail.snapshotUrl)) ? str(detail.snapshotUrl) : "",
    at: str(e.at),
    actor: str(e.actor),
  };
}

/**
 * The live view `live` at the instant `at` (its `?at=`, to the second; `?clip=` to save a minute
 * of the recording from there), or "". One parameter: no `&` for a chat's markup to mangle.
 */
function recordingLink(live: string, at: string, param: "at" | "clip" = "at"): string {
  const t = Date.parse(at);
  if (!/^https?:\/\//.test(live) || !Number.isFinite(t)) return "";
  return `${live}?${param}=${new Date(t).toISOString().replace(/\.\d+Z$/, "Z")}`;
}

/** `name (site)`: what the alert is about. */
export function about(w: AlertWords): string {
  return `${w.name}${w.site ? ` (${w.site})` : ""}`;
}

/** `What: name (site)` — the one line an alert is known by (an email's subject, a chat line). */
export function headline(w: AlertWords): string {
  return `${w.what}: ${about(w)}`;
}

/** A digest's window and what it holds (alert_digest.ts `readDigest`). */
export interface DigestInput {
  start: number;
  end: number;
  /** The window's events to list, oldest first. */
  rows: {
    at: number;
    type: string;
    subject: { name?: unknown; siteName?: unknown };
    detail?: Record<string, unknown>;
  }[];
  /** How many of each event type the window holds. */
  kinds: Record<string, number>;
  total: number;
  /** The count stopped short of the window's end (more than `total`). */
  atLeast: boolean;
  /** How many events the destination gets as messages of their own per window. */
  each: number;
  /** The window's length in minutes. */
  minutes: number;
}

/** A digest in words. */
export interface DigestWords {
  /** `12 alerts 14:00–14:10 UTC`. */
  title: string;
  /** `Device port down ×9, Motion detected ×3`, the most first. */
  kinds: string;
  /** `12 alerts between 14:00 and 14:10 UTC on 2026-12-05.` */
  intro: string;
  /** Why these come together: at most so many of their own in so many minutes. */
  rule: string;
  /** Each listed event: `HH:MM:SS`, what, `name (site)`, the error or "". */
  rows: { at: string; what: string; about: string; error: string }[];
  /** How many more the Events page has (`41`, `4999+`), or "" when every one is listed. */
  more: string;
}

/** `HH:MM` (or `HH:MM:SS`) in UTC. */
const clock = (ms: number, seconds = false) =>
  new Date(ms).toISOString().slice(11, seconds ? 19 : 16);

/**
 * The words of a digest for a destination called `where` (`address`, `channel`) whose own
 * messages are `messages` (`emails`, `messages`).
 */
export function digestWords(d: DigestInput, where: string, messages: string): DigestWords {
  const count = `${d.total}${d.atLeast ? "+" : ""}`;
  const more = d.total - d.rows.length;
  return {
    title: `${count} alerts ${clock(d.start)}–${clock(d.end)} UTC`,
    kinds: Object.entries(d.kinds).sort((a, b) => b[1] - a[1])
      .map(([type, n]) => `${EVENT_LABELS[type as EventType] ?? type} ×${n}`).join(", "),
    intro: `${count} alerts between ${clock(d.start)} and ${clock(d.end)} UTC on ${
      new Date(d.start).toISOString().slice(0, 10)
    }.`,
    rule:
      `This ${where} gets at most ${d.each} alerts as ${messages} of their own in ${d.minutes} ` +
      `minutes; the others of those minutes come together in one like this, at their end.`,
    rows: d.rows.map((r) => ({
      at: clock(r.at, true),
      what: EVENT_LABELS[r.type as EventType] ?? r.type,
      about: `${str(r.subject?.name)}${
        str(r.subject?.siteName) ? ` (${str(r.subject?.siteName)})` : ""
      }`,
      error: str(r.detail?.error),
    })),
    more: more > 0 || d.atLeast ? `${more}${d.atLeast ? "+" : ""}` : "",
  };
}
