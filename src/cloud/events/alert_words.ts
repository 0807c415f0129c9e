/**
 * An event's webhook body (producer.ts `eventBody`) in the words the Events page's row uses —
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
    at: str(e.at),
    actor: str(e.actor),
  };
}

/** `name (site)`: what the alert is about. */
export function about(w: AlertWords): string {
  return `${w.name}${w.site ? ` (${w.site})` : ""}`;
}

/** `What: name (site)` — the one line an alert is known by (an email's subject, a chat line). */
export function headline(w: AlertWords): string {
  return `${w.what}: ${about(w)}`;
}
