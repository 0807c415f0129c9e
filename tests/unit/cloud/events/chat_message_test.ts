// Alerts as chat messages: which format a webhook's URL gets by itself, and each service's
// message — the Events page's words, the links, and a tenant's hostile device name kept as text
// (no @everyone in Discord, no <!channel> or link in Slack, no mention in Google Chat).
import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { chatBody, chatDigest, sentFormat } from "../../../../src/cloud/events/chat_message.ts";

const event = (o: Record<string, unknown> = {}) =>
  JSON.stringify({
    id: "evt_1",
    type: "device.down",
    at: "2026-12-05T10:00:00.000Z",
    tenantId: "t-1",
    subject: { name: "NVR :554", siteName: "Depot" },
    actor: "system",
    detail: { error: "connection refused" },
    ...o,
  });

const hostile = event({
  subject: { name: "<!channel> @everyone *x* <https://evil.example|click> & co", siteName: "D" },
});

Deno.test("sentFormat: a chat service by its host under auto; an explicit format wins; else JSON", () => {
  const f = (url: string, format?: "auto" | "json" | "slack") => sentFormat({ url, format });
  assertEquals(f("https://hooks.slack.com/services/T0/B0/x"), "slack");
  assertEquals(f("https://discord.com/api/webhooks/1/x"), "discord");
  assertEquals(f("https://discordapp.com/api/webhooks/1/x"), "discord");
  assertEquals(f("https://acme.webhook.office.com/webhookb2/x"), "teams");
  assertEquals(f("https://prod-01.westus.logic.azure.com:443/workflows/x"), "teams");
  assertEquals(f("https://x.environment.api.powerplatform.com/powerautomate/x"), "teams");
  assertEquals(f("https://chat.googleapis.com/v1/spaces/x/messages?key=k"), "googlechat");
  assertEquals(f("https://alerts.example.com/in"), "json");
  assertEquals(f("https://hooks.slack.com.evil.example/x"), "json", "the host, not a prefix");
  assertEquals(f("https://hooks.slack.com/services/x", "json"), "json");
  assertEquals(f("https://mattermost.example.com/hooks/x", "slack"), "slack");
  assertEquals(f("https://alerts.example.com/in", "auto"), "json");
});

Deno.test("chatBody: json is the event itself", () => {
  assertEquals(chatBody("json", event(), "https://c.example"), event());
});

Deno.test("chatBody: Slack — what, where, the error, when, links; a name's markup is text", () => {
  const { text } = JSON.parse(chatBody("slack", event(), "https://c.example"));
  assertEquals(
    text,
    "*Device port down*: NVR :554 (Depot)\nconnection refused\n2026-12-05T10:00:00.000Z\n" +
      "<https://c.example/events|Events>",
  );
  const bad = JSON.parse(chatBody("slack", hostile, "https://c.example")).text as string;
  assertStringIncludes(bad, "&lt;!channel&gt;");
  assertStringIncludes(bad, "&lt;https://evil.example|click&gt; &amp; co");
  assert(!bad.includes("<!channel>") && !bad.includes("<https://evil"));
  const live = JSON.parse(chatBody(
    "slack",
    event({ type: "camera.motion", detail: { liveUrl: "https://c.example/live/h1" } }),
    "https://c.example",
  )).text as string;
  assertStringIncludes(
    live,
    "<https://c.example/live/h1|Watch live> · " +
      "<https://c.example/live/h1?at=2026-12-05T10:00:00Z|Watch the recording> · " +
      "<https://c.example/live/h1?clip=2026-12-05T10:00:00Z|Save a clip> · " +
      "<https://c.example/events|Events>",
  );
  const test = JSON.parse(chatBody("slack", event({ type: "webhook.test" }), "https://c")).text;
  assertEquals(
    test,
    "Test from Nanodems Connector: alerts to this channel work. <https://c/events|Events>",
  );
});

Deno.test("chatBody: Discord — no mention can fire, markdown in a name is escaped", () => {
  const b = JSON.parse(chatBody("discord", hostile, "https://c.example"));
  assertEquals(b.allowed_mentions, { parse: [] });
  const content = b.content as string;
  assert(content.startsWith("**Device port down**: "), content);
  assertStringIncludes(content, "\\<!channel\\> \\@everyone \\*x\\*");
  assertStringIncludes(content, "\n2026-12-05T10:00:00.000Z\n");
  assertStringIncludes(content, "[Events](<https://c.example/events>)");
  const live = JSON.parse(chatBody(
    "discord",
    event({ type: "camera.motion", detail: { liveUrl: "https://c.example/live/h1" } }),
    "https://c.example",
  )).content as string;
  assertStringIncludes(
    live,
    "[Watch live](<https://c.example/live/h1>) · " +
      "[Watch the recording](<https://c.example/live/h1?at=2026-12-05T10:00:00Z>) · " +
      "[Save a clip](<https://c.example/live/h1?clip=2026-12-05T10:00:00Z>) · " +
      "[Events](<https://c.example/events>)",
  );
  const long = JSON.parse(chatBody(
    "discord",
    event({ subject: { name: "x".repeat(5000) } }),
    "https://c",
  )).content as string;
  assert(long.length <= 2000, "Discord takes 2000 characters");
});

Deno.test("chatBody: Teams — one Adaptive Card with text blocks and link buttons", () => {
  const b = JSON.parse(chatBody(
    "teams",
    event({ detail: { error: "connection refused", liveUrl: "https://c.example/live/h1" } }),
    "https://c.example",
  ));
  assertEquals(b.type, "message");
  const card = b.attachments[0];
  assertEquals(card.contentType, "application/vnd.microsoft.card.adaptive");
  assertEquals(card.content.type, "AdaptiveCard");
  assertEquals(
    card.content.body.map((x: { text: string }) => x.text),
    ["Device port down", "NVR :554 (Depot)", "connection refused", "2026-12-05T10:00:00.000Z"],
  );
  assertEquals(
    card.content.actions.map((a: { title: string; url: string }) => [a.title, a.url]),
    [
      ["Watch live", "https://c.example/live/h1"],
      ["Watch the recording", "https://c.example/live/h1?at=2026-12-05T10:00:00Z"],
      ["Save a clip", "https://c.example/live/h1?clip=2026-12-05T10:00:00Z"],
      ["Events", "https://c.example/events"],
    ],
  );
});

Deno.test("chatBody: Google Chat — a name's angle brackets cannot make a link or a mention", () => {
  const { text } = JSON.parse(chatBody("googlechat", hostile, "https://c.example"));
  assert(
    text.startsWith(
      "*Device port down*: ‹!channel› @everyone ∗x∗ ‹https://evil.example|click› & co (D)",
    ),
    text,
  );
  assert(text.endsWith("<https://c.example/events|Events>"));
});

Deno.test("chatDigest: one message per service, as many lines as it shows, the rest counted; JSON gets the window's events", () => {
  const start = Date.UTC(2026, 11, 5, 14, 0);
  const rows = Array.from({ length: 100 }, (_, i) => ({
    at: start + i * 1000,
    type: "device.down",
    subject: { name: `Camera @everyone ${"x".repeat(40)} ${i}`, siteName: "Depot" },
    detail: { error: "connection refused" },
  }));
  const d = {
    start,
    end: start + 600_000,
    rows,
    kinds: { "device.down": 140 },
    total: 140,
    atLeast: false,
    each: 5,
    minutes: 10,
  };
  const discord = JSON.parse(chatDigest("discord", d, "https://c", "{}"));
  assert(discord.content.length <= 2000, String(discord.content.length));
  assertEquals(discord.allowed_mentions, { parse: [] });
  const lines = (discord.content as string).split("\n");
  assertEquals(lines[0], "**140 alerts 14:00–14:10 UTC**: Device port down ×140");
  const listed = lines.filter((l) => l.startsWith("14:")).length;
  assert(listed > 5 && listed < 100, String(listed));
  assertStringIncludes(discord.content, `…and ${140 - listed} more: [Events](<https://c/events>)`);
  assertStringIncludes(discord.content, "\\@everyone");

  const slack = JSON.parse(chatDigest("slack", d, "https://c", "{}")).text as string;
  assertEquals(slack.split("\n").filter((l) => l.startsWith("14:")).length, 100);
  assertStringIncludes(slack, "…and 40 more: <https://c/events|Events>");

  const chat = JSON.parse(chatDigest("googlechat", d, "https://c", "{}")).text as string;
  assert(chat.length <= 4000, String(chat.length));

  const teams = JSON.parse(chatDigest("teams", d, "https://c", "{}"));
  const body = teams.attachments[0].content.body as { text: string }[];
  assertEquals(body[0].text, "140 alerts 14:00–14:10 UTC");
  assertEquals(body.filter((b) => b.text.startsWith("14:")).length, 30);
  assert(body.some((b) => b.text === "…and 110 more"));

  // A webhook switched to JSON while its digest was pending: the window with its events.
  const json = JSON.parse(
    chatDigest("json", d, "https://c", `{"type":"alert.digest","start":${start}}`),
  );
  assertEquals([json.type, json.start, json.total, json.kinds], [
    "alert.digest",
    start,
    140,
    { "device.down": 140 },
  ]);
  assertEquals(json.events.length, 100);
  assertEquals(json.events[1], {
    at: "2026-12-05T14:00:01.000Z",
    type: "device.down",
    subject: rows[1].subject,
    detail: { error: "connection refused" },
  });
});

Deno.test("chatBody: a camera alert's picture — a link Slack and Google Chat unfurl, Discord's embed, a Teams image; never a link that is not a web address", () => {
  const url = "https://c.example/api/event-snapshots/s-1.jpg?t=t-1&exp=1&sig=x";
  const motion = event({ type: "camera.motion", detail: { snapshot: "s-1", snapshotUrl: url } });
  assertStringIncludes(
    JSON.parse(chatBody("slack", motion, "https://c.example")).text,
    `<${url}|What the camera saw>`,
  );
  assertStringIncludes(
    JSON.parse(chatBody("googlechat", motion, "https://c.example")).text,
    `<${url}|What the camera saw>`,
  );
  assertEquals(JSON.parse(chatBody("discord", motion, "https://c.example")).embeds, [
    { title: "What the camera saw", image: { url } },
  ]);
  const card = JSON.parse(chatBody("teams", motion, "https://c.example")).attachments[0].content;
  assertEquals(card.body.at(-1), {
    type: "Image",
    url,
    altText: "What the camera saw",
    size: "Large",
  });
  const odd = event({ detail: { snapshotUrl: "javascript:alert(1)" } });
  assert(!JSON.parse(chatBody("slack", odd, "https://c")).text.includes("javascript:"));
  assertEquals(JSON.parse(chatBody("discord", odd, "https://c")).embeds, undefined);
});
