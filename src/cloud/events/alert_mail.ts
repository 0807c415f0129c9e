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
import type { MailMessage } from "./mailer.ts";
import { escapeHtml as esc } from "../../shared/encoding.ts";
import { alertWords, type DigestInput, digestWords, headline } from "./alert_words.ts";

/** A header value: one line, bounded (a device's name is the tenant's to choose). */
function oneLine(s: string, max: number): string {
  const line = s.replace(/[\r\n\t]+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The lines every alert email ends with: the Events page, and where the address is removed. */
function footerText(consoleUrl: string): string[] {
  return [
    "",
    `Events: ${consoleUrl}/events`,
    `This address is on the tenant's "Webhooks and email" page (${consoleUrl}/webhooks); an admin removes it there.`,
  ];
}

/** {@linkcode footerText} in HTML. */
function footerHtml(consoleUrl: string): string {
  return `<p style="color:#666;font-size:small"><a href="${
    esc(`${consoleUrl}/events`)
  }">Events</a> · ` +
    `This address is on the tenant's <a href="${
      esc(`${consoleUrl}/webhooks`)
    }">Webhooks and email</a> ` +
    "page; an admin removes it there.</p>";
}

/**
 * The email for one event body (JSON); `consoleUrl` is the cloud's public URL (the links), and
 * `picture` the camera's picture when the event has one.
 */
export function alertMail(body: string, consoleUrl: string, picture?: Uint8Array): MailMessage {
  const w = alertWords(body);
  const { test, name, site, error, live, at } = w;
  const what = test ? "Test email" : w.what;
  const subject = test ? "Nanodems Connector: test email" : oneLine(headline(w), 150);

  const lines = test
    ? [
      "This is a test email from Nanodems Connector: email alerts to this address work.",
      "",
      `Sent at ${at} by ${w.actor || "the console"}.`,
    ]
    : [
      what,
      "",
      `${name}${site ? ` · site ${site}` : ""}`,
      ...(error ? [error] : []),
      `At ${at}${w.actor && w.actor !== "system" ? ` by ${w.actor}` : ""}`,
      ...(picture ? ["", "What the camera saw is attached."] : []),
      ...(live ? ["", `Watch live: ${live}`] : []),
      ...(w.recording ? [`Watch the recording of that moment: ${w.recording}`] : []),
      ...(w.clip ? [`Save a minute of it as a file: ${w.clip}`] : []),
    ];
  const text = [...lines, ...footerText(consoleUrl)].join("\n") + "\n";

  const p = (s: string) => `<p>${esc(s)}</p>`;
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    test ? p(lines[0]) + p(lines[2]) : [
      `<h2 style="margin:0 0 8px">${esc(what)}</h2>`,
      `<p><b>${esc(name)}</b>${site ? ` · site ${esc(site)}` : ""}</p>`,
      error ? p(error) : "",
      p(lines[lines.findIndex((l) => l.startsWith("At "))]),
      picture ? '<p><img src="cid:picture" alt="What the camera saw" width="640"></p>' : "",
      live
        ? `<p><a href="${esc(live)}">Watch live</a>${
          w.recording ? ` · <a href="${esc(w.recording)}">Watch the recording</a>` : ""
        }${w.clip ? ` · <a href="${esc(w.clip)}">Save a clip</a>` : ""}</p>`
        : "",
    ].join(""),
    footerHtml(consoleUrl),
    "</body></html>",
  ].join("");
  return { subject, text, html, ...(picture ? { picture } : {}) };
}

/**
 * The summary email of a window in which an address was sent its few alerts of their own and more
 * events came (alert_digest.ts): how many of which kind in the subject, each event on a line of the
 * body (what, which device on which site, the error, when), and the Events page for the rest.
 */
export function digestMail(d: DigestInput, consoleUrl: string): MailMessage {
  const w = digestWords(d, "address", "emails");
  const events = `${consoleUrl}/events`;
  const text = [
    w.intro,
    w.rule,
    "",
    ...w.rows.map((r) =>
      `${r.at}  ${oneLine(`${r.what}: ${r.about}`, 200)}${
        r.error ? ` — ${oneLine(r.error, 200)}` : ""
      }`
    ),
    ...(w.more ? ["", `…and ${w.more} more on the Events page.`] : []),
    ...footerText(consoleUrl),
  ].join("\n") + "\n";
  const cell = 'style="padding:2px 8px;vertical-align:top"';
  const html = [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<h2 style="margin:0 0 8px">${esc(w.title)}</h2>`,
    `<p>${esc(w.rule)}</p>`,
    '<table style="border-collapse:collapse">',
    ...w.rows.map((r) =>
      `<tr><td ${cell}>${esc(r.at)}</td><td ${cell}><b>${esc(r.what)}</b></td><td ${cell}>${
        esc(r.about)
      }</td><td ${cell}>${esc(r.error)}</td></tr>`
    ),
    "</table>",
    w.more ? `<p>…and ${w.more} more on the <a href="${esc(events)}">Events</a> page.</p>` : "",
    footerHtml(consoleUrl),
    "</body></html>",
  ].join("");
  return { subject: oneLine(`${w.title}: ${w.kinds}`, 150), text, html };
}
