/**
 * An alert as a chat service's message, for the webhooks whose URL is a channel's incoming
 * webhook: Slack (and Mattermost and the others that take Slack's), Discord, Microsoft Teams (a
 * workflow's "when a webhook request is received", which posts an Adaptive Card) and Google Chat.
 * Without it an operator who pastes a Slack URL gets `invalid_payload` on every delivery, and a
 * team that lives in chat needs a program in between to turn the signed JSON into a line. The
 * words are the Events page's (alert_words.ts): what happened, to what, where, the error, when,
 * and links to the live view and the console. The tenant chose the device and site names, so
 * each format escapes them for its own markup — a name cannot mention `@everyone` in Discord or
 * `<!channel>` in Slack, nor turn into a link.
 * @module
 */
import type { Webhook, WebhookFormat } from "../store/store.ts";
import { about, type AlertWords, alertWords } from "./alert_words.ts";

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
  auto: "Automatic (a chat service by its address, else JSON)",
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
  const links = [...(w.live ? [`<${w.live}|Watch live>`] : []), `<${events}|Events>`];
  return [
    `*${esc(w.what)}*: ${esc(about(w))}`,
    ...details(w).map(esc),
    links.join(" · "),
  ].join("\n");
}

/** Slack's mrkdwn: `&`, `<` and `>` as entities (no mention, no link from a name). */
function slack(w: AlertWords, events: string): string {
  return angleLinks(
    w,
    events,
    (s) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"),
  );
}

/** Discord's markdown: its markup characters escaped; mentions are off in the body anyway. */
function discord(w: AlertWords, events: string): string {
  const esc = (s: string) => s.replace(/([\\*_~`|>#\[\]()<@])/g, "\\$1");
  if (w.test) return `${TEST_LINE} [Events](<${events}>)`;
  const links = [...(w.live ? [`[Watch live](<${w.live}>)`] : []), `[Events](<${events}>)`];
  return [
    `**${esc(w.what)}**: ${esc(about(w))}`,
    ...details(w).map(esc),
    links.join(" · "),
  ].join("\n");
}

/** Google Chat's text: `<` and `>` (its link and mention markup) cannot come from a name. */
function googleChat(w: AlertWords, events: string): string {
  return angleLinks(
    w,
    events,
    (s) => s.replace(/</g, "‹").replace(/>/g, "›").replace(/\*/g, "∗"),
  );
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
  ];
  const actions = [
    ...(w.live ? [{ type: "Action.OpenUrl", title: "Watch live", url: w.live }] : []),
    { type: "Action.OpenUrl", title: "Events", url: events },
  ];
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
