/**
 * An alert as a chat service's message, for the webhooks whose URL is a channel's incoming webhook:
 * Slack (and Mattermost and the others that take Slack's), Discord, Microsoft Teams (a workflow's
 * "when a webhook request is received", which posts an Adaptive Card) and Google Chat. Without it
 * an operator who pastes a Slack URL gets `invalid_payload` on every delivery, and a team that
 * lives in chat needs a program in between to turn the signed JSON into a line. The words are the
 * Events page's (alert_words.ts): what happened, to what, where, the error, when, and links to the
 * live view, the camera's own recording of that moment (the live view with `?at=`, which plays it
 * from just before), the camera's picture of that moment (a link that works for a day; Slack
 * unfurls it, Discord and Teams show it) and the console. The tenant chose the device and site
 * names, so each format escapes them for its own markup — a name cannot mention `@everyone` in
 * Discord or `<!channel>` in Slack, nor turn into a link.
 * @module
 */
import type { Webhook, WebhookFormat } from "../store/store.ts";
import {
  about,
  type AlertWords,
  alertWords,
  type DigestInput,
  type DigestWords,
  digestWords,
} from "./alert_words.ts";

/** The formats a POST can carry once `auto` is decided. */
export type SentFormat = Exclude<WebhookFormat, "auto">;

/** The chat services' hosts `auto` recognises, with their format. */
const HOSTS: [RegExp, SentFormat][] = [
  [/^hooks\.slack\.com$/, "slack"],
  [/^(?:ptb\.|canary\.)?discord(?:app)?\.com$/, "discord"],
  [/(?:^|\.)webhook\.office\.com$/, "teams"],
  [/(?:^|\.)logic\.azure\.com$/, "teams"],
  [/(?:^|\.)powerplatform\.com$/, "teams"],
  [/^chat\.googleapis\.com$/, "googlechat"],
];

/** What `hook`'s POST carries: its format, or for `auto` the chat service its host names. */
export function sentFormat(hook: Pick<Webhook, "url" | "format">): SentFormat {
  if (hook.format && hook.format !== "auto") return hook.format;
  let host: string;
  try {
    host = new URL(hook.url).hostname.toLowerCase();
  } catch {
    return "json";
  }
  return HOSTS.find(([re]) => re.test(host))?.[1] ?? "json";
}

/** The names the console gives each format (the Webhooks page, the API's `sendsAs`). */
export const FORMAT_NAMES: Record<WebhookFormat, string> = {
  auto: "Automatic (by the address)",
  json: "JSON event, signed",
  slack: "Slack (or Mattermost)",
  discord: "Discord",
  teams: "Microsoft Teams (workflow)",
  googlechat: "Google Chat",
};

/**
 * The POST body of the event `body` (the JSON event) in `format`: the body itself for `json`,
 * else the chat service's message, with links to the console at `consoleUrl`.
 */
export function chatBody(format: SentFormat, body: string, consoleUrl: string): string {
  if (format === "json") return body;
  const w = alertWords(body);
  const events = `${consoleUrl}/events`;
  switch (format) {
    case "slack":
      return JSON.stringify({ text: slack(w, events) });
    case "discord":
      return JSON.stringify({
        content: discord(w, events).slice(0, 2000),
        allowed_mentions: { parse: [] },
        // The picture shown under the message (Discord fetches it; none when it cannot).
        ...(w.picture
          ? { embeds: [{ title: "What the camera saw", image: { url: w.picture } }] }
          : {}),
      });
    case "teams":
      return JSON.stringify(teams(w, events));
    case "googlechat":
      return JSON.stringify({ text: googleChat(w, events) });
  }
}

/** The test's line, in every format's words. */
const TEST_LINE = "Test from Nanodems Connector: alerts to this channel work.";

/** The lines below the headline: the error, then when (and who, when a person caused it). */
function details(w: AlertWords): string[] {
  return [
    ...(w.error ? [w.error] : []),
    `${w.at}${w.actor && w.actor !== "system" ? ` by ${w.actor}` : ""}`,
  ];
}

/**
 * The message in Slack's markup, which Google Chat shares: `*bold*`, `<url|label>` links, with
 * `esc` keeping the tenant's names text.
 */
function angleLinks(w: AlertWords, events: string, esc: (s: string) => string): string {
  if (w.test) return `${TEST_LINE} <${events}|Events>`;
  const links = [
    ...(w.live ? [`<${w.live}|Watch live>`] : []),
    ...(w.recording ? [`<${w.recording}|Watch the recording>`] : []),
    ...(w.clip ? [`<${w.clip}|Save a clip>`] : []),
    ...(w.picture ? [`<${w.picture}|What the camera saw>`] : []),
    `<${events}|Events>`,
  ];
  return [
    `*${esc(w.what)}*: ${esc(about(w))}`,
    ...details(w).map(esc),
    links.join(" · "),
  ].join("\n");
}

/** Slack's mrkdwn: `&`, `<` and `>` as entities (no mention, no link from a name). */
const slackEsc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Discord's markdown escaped (mentions are off in the body anyway). */
const discordEsc = (s: string) => s.replace(/([\\*_~`|>#\[\]()<@])/g, "\\$1");

/** Google Chat's `<` and `>` (its link and mention markup) and `*` never from a name. */
const googleEsc = (s: string) => s.replace(/</g, "‹").replace(/>/g, "›").replace(/\*/g, "∗");

/** Slack's message. */
function slack(w: AlertWords, events: string): string {
  return angleLinks(w, events, slackEsc);
}

/** Discord's markdown: its markup characters escaped; mentions are off in the body anyway. */
function discord(w: AlertWords, events: string): string {
  const esc = discordEsc;
  if (w.test) return `${TEST_LINE} [Events](<${events}>)`;
  const links = [
    ...(w.live ? [`[Watch live](<${w.live}>)`] : []),
    ...(w.recording ? [`[Watch the recording](<${w.recording}>)`] : []),
    ...(w.clip ? [`[Save a clip](<${w.clip}>)`] : []),
    `[Events](<${events}>)`,
  ];
  return [
    `**${esc(w.what)}**: ${esc(about(w))}`,
    ...details(w).map(esc),
    links.join(" · "),
  ].join("\n");
}

/** Google Chat's text: `<` and `>` (its link and mention markup) cannot come from a name. */
function googleChat(w: AlertWords, events: string): string {
  return angleLinks(w, events, googleEsc);
}

/** A Teams workflow's message: one Adaptive Card, plain text blocks, buttons for the links. */
function teams(w: AlertWords, events: string): Record<string, unknown> {
  const block = (text: string, extra: Record<string, unknown> = {}) => ({
    type: "TextBlock",
    text,
    wrap: true,
    ...extra,
  });
  const body = w.test ? [block(TEST_LINE)] : [
    block(w.what, { weight: "Bolder", size: "Medium" }),
    block(about(w)),
    ...details(w).map((d) => block(d, { isSubtle: true })),
    ...(w.picture
      ? [{ type: "Image", url: w.picture, altText: "What the camera saw", size: "Large" }]
      : []),
  ];
  const actions = [
    ...(w.live ? [{ type: "Action.OpenUrl", title: "Watch live", url: w.live }] : []),
    ...(w.recording
      ? [{ type: "Action.OpenUrl", title: "Watch the recording", url: w.recording }]
      : []),
    ...(w.clip ? [{ type: "Action.OpenUrl", title: "Save a clip", url: w.clip }] : []),
    { type: "Action.OpenUrl", title: "Events", url: events },
  ];
  return card(body, actions);
}

/** A Teams message of one Adaptive Card with `body` blocks and `actions` buttons. */
function card(body: unknown[], actions: unknown[]): Record<string, unknown> {
  return {
    type: "message",
    attachments: [{
      contentType: "application/vnd.microsoft.card.adaptive",
      contentUrl: null,
      content: {
        $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
        type: "AdaptiveCard",
        version: "1.4",
        body,
        actions,
      },
    }],
  };
}

/** The most characters each service shows of one message (Slack truncates at 40 000). */
const LIMITS: Record<Exclude<SentFormat, "json" | "teams">, number> = {
  slack: 30_000,
  discord: 2_000,
  googlechat: 4_000,
};

/** The most rows a Teams card lists (a card is at most 28 KB). */
const TEAMS_ROWS = 30;

/**
 * A digest as a JSON webhook gets it — only one switched from a chat format while its digest was
 * pending (a JSON webhook is never held back): the window's reference (`type`, `start`, `end`)
 * with the counts and the window's events, so the program reads what happened, not a reference it
 * cannot look up.
 */
function jsonDigest(d: DigestInput, body: string): string {
  let ref: Record<string, unknown> = {};
  try {
    ref = JSON.parse(body);
  } catch { /* the counts and the events say it all */ }
  return JSON.stringify({
    ...ref,
    total: d.total,
    atLeast: d.atLeast,
    kinds: d.kinds,
    events: d.rows.map((r) => ({
      at: new Date(r.at).toISOString(),
      type: r.type,
      subject: r.subject,
      detail: r.detail ?? {},
    })),
  });
}

/**
 * A digest (alert_digest.ts) as the chat service's one message: the count and kinds, a line per
 * event as many as the service shows, how many more the Events page has, and why they came
 * together. For `json` (no person reads it) the digest's own body, `body`.
 */
export function chatDigest(
  format: SentFormat,
  d: DigestInput,
  consoleUrl: string,
  body: string,
): string {
  if (format === "json") return jsonDigest(d, body);
  const w = digestWords(d, "channel", "messages");
  const events = `${consoleUrl}/events`;
  const line = (r: DigestWords["rows"][number]) =>
    `${r.at}  ${r.what}: ${r.about}${r.error ? ` — ${r.error}` : ""}`;
  if (format === "teams") {
    const rows = w.rows.slice(0, TEAMS_ROWS);
    const more = d.total - rows.length;
    return JSON.stringify(card([
      { type: "TextBlock", text: w.title, weight: "Bolder", size: "Medium", wrap: true },
      { type: "TextBlock", text: w.kinds, wrap: true },
      ...rows.map((r) => ({ type: "TextBlock", text: line(r), wrap: true, spacing: "None" })),
      ...(more > 0 || d.atLeast
        ? [{ type: "TextBlock", text: `…and ${more}${d.atLeast ? "+" : ""} more`, wrap: true }]
        : []),
      { type: "TextBlock", text: w.rule, wrap: true, isSubtle: true },
    ], [{ type: "Action.OpenUrl", title: "Events", url: events }]));
  }
  const esc = format === "slack" ? slackEsc : format === "discord" ? discordEsc : googleEsc;
  const bold = format === "discord" ? "**" : "*";
  const link = format === "discord" ? `[Events](<${events}>)` : `<${events}|Events>`;
  const head = `${bold}${esc(w.title)}${bold}: ${esc(w.kinds)}`;
  const tail = (more: number) =>
    more > 0 || d.atLeast ? `…and ${more}${d.atLeast ? "+" : ""} more: ${link}` : link;
  const rule = format === "discord" ? `-# ${esc(w.rule)}` : `_${esc(w.rule)}_`;
  // As many lines as the service shows, with room kept for the last two.
  const budget = LIMITS[format] - head.length - rule.length - 200;
  const lines: string[] = [];
  let used = 0;
  for (const r of w.rows) {
    const l = esc(line(r));
    if (used + l.length + 1 > budget) break;
    lines.push(l);
    used += l.length + 1;
  }
  const text = [head, ...lines, tail(d.total - lines.length), rule].join("\n");
  return JSON.stringify(
    format === "discord" ? { content: text, allowed_mentions: { parse: [] } } : { text },
  );
}
