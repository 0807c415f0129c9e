/**
 * An event as an email (mail_target.ts): what the Events page's row says — what happened, to
 * which device or agent on which site, the error, when, by whom — as a subject a phone's lock
 * screen shows whole, a plain-text body and the same in HTML, with the console's links. A camera
 * alert carries the camera's picture of that moment attached and shown in the message: mail
 * clients hide remote images, and the picture is what the person opening it wants first.
 * Written from the webhook body (producer.ts `eventBody`), so the queue stores one thing for
 * both kinds of receiver.
 * @module
 */
import { EVENT_LABELS } from "./labels.ts";
import type { EventType } from "../store/store.ts";
import type { MailMessage } from "./mailer.ts";
import { escapeHtml as esc } from "../../shared/encoding.ts";

/** The part of the webhook body an email reads. */
interface Body {
  type?: string;
  at?: string;
  actor?: string;
  subject?: { name?: unknown; siteName?: unknown };
  detail?: Record<string, unknown>;
}

const str = (v: unknown): string => (typeof v === "string" ? v : "");

/** A header value: one line, bounded (a device's name is the tenant's to choose). */
function oneLine(s: string, max: number): string {
  const line = s.replace(/[\r\n\t]+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/**
 * The email for one event body (JSON); `consoleUrl` is the cloud's public URL (the links), and
 * `picture` the camera's picture when the event has one.
 */
export function alertMail(body: string, consoleUrl: string, picture?: Uint8Array): MailMessage {
  const e = JSON.parse(body) as Body;
  const type = str(e.type);
  const detail = e.detail && typeof e.detail === "object" ? e.detail : {};
  const test = type === "webhook.test";
  const what = test ? "Test email" : (EVENT_LABELS[type as EventType] ?? type) +
    (str(detail.input) ? ` (${str(detail.input)})` : "");
  const name = str(e.subject?.name);
  const site = str(e.subject?.siteName);
  const error = str(detail.error);
  const live = /^https?:\/\//.test(str(detail.liveUrl)) ? str(detail.liveUrl) : "";
  const at = str(e.at);
  const events = `${consoleUrl}/events`;
  const subject = test
    ? "Nanodems Connector: test email"
    : oneLine(`${what}: ${name}${site ? ` (${site})` : ""}`, 150);

  const lines = test
    ? [
      "This is a test email from Nanodems Connector: email alerts to this address work.",
      "",
      `Sent at ${at} by ${str(e.actor) || "the console"}.`,
    ]
    : [
      what,
      "",
      `${name}${site ? ` · site ${site}` : ""}`,
      ...(error ? [error] : []),
      `At ${at}${str(e.actor) && e.actor !== "system" ? ` by ${e.actor}` : ""}`,
      ...(picture ? ["", "What the camera saw is attached."] : []),
      ...(live ? ["", `Watch live: ${live}`] : []),
    ];
  const footer = [
    "",
    `Events: ${events}`,
    `This address is on the tenant's "Webhooks and email" page (${consoleUrl}/webhooks); an admin removes it there.`,
  ];
  const text = [...lines, ...footer].join("\n") + "\n";

  const p = (s: string) => `<p>${esc(s)}</p>`;
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    test ? p(lines[0]) + p(lines[2]) : [
      `<h2 style="margin:0 0 8px">${esc(what)}</h2>`,
      `<p><b>${esc(name)}</b>${site ? ` · site ${esc(site)}` : ""}</p>`,
      error ? p(error) : "",
      p(lines[lines.findIndex((l) => l.startsWith("At "))]),
      picture ? '<p><img src="cid:picture" alt="What the camera saw" width="640"></p>' : "",
      live ? `<p><a href="${esc(live)}">Watch live</a></p>` : "",
    ].join(""),
    `<p style="color:#666;font-size:small"><a href="${esc(events)}">Events</a> · `,
    `This address is on the tenant's <a href="${
      esc(`${consoleUrl}/webhooks`)
    }">Webhooks and email</a> `,
    "page; an admin removes it there.</p>",
    "</body></html>",
  ].join("");
  return { subject, text, html, ...(picture ? { picture } : {}) };
}
