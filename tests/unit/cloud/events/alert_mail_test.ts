import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { alertMail, digestMail } from "../../../../src/cloud/events/alert_mail.ts";

const event = (o: Record<string, unknown>) =>
  JSON.stringify({
    type: "device.down",
    at: "2026-12-05T10:00:00.000Z",
    subject: { name: "NVR :554", siteName: "Depot" },
    actor: "system",
    detail: {},
    ...o,
  });

Deno.test("alert mail: the subject is what happened to what, where; the body says the error and links the console", () => {
  const m = alertMail(event({ detail: { error: "connection refused" } }), "https://c.example");
  assertEquals(m.subject, "Device port down: NVR :554 (Depot)");
  assertStringIncludes(m.text, "connection refused");
  assertStringIncludes(m.text, "At 2026-12-05T10:00:00.000Z");
  assertStringIncludes(m.text, "Events: https://c.example/events");
  assertEquals(m.picture, undefined);
  assert(!m.html.includes("cid:picture"));
});

Deno.test("alert mail: an alarm input names its input; a test says it is one; a long name is cut", () => {
  assertEquals(
    alertMail(event({ type: "camera.input", detail: { input: "DI_1" } }), "https://c").subject,
    "Camera alarm input (DI_1): NVR :554 (Depot)",
  );
  const test = alertMail(
    event({ type: "webhook.test", subject: { name: "Test delivery" }, actor: "user:u-1" }),
    "https://c",
  );
  assertEquals(test.subject, "Nanodems Connector: test email");
  assertStringIncludes(test.text, "email alerts to this address work");
  const long = alertMail(event({ subject: { name: "x".repeat(500) } }), "https://c").subject;
  assertEquals(long.length, 150);
  assert(long.endsWith("…"));
});

Deno.test("alert mail: a live link only when it is a web address", () => {
  const bad = alertMail(event({ detail: { liveUrl: "javascript:alert(1)" } }), "https://c");
  assert(!bad.html.includes("javascript:"));
  assert(!bad.text.includes("Watch live"));
  const good = alertMail(event({ detail: { liveUrl: "https://c/live/h1" } }), "https://c");
  assertStringIncludes(good.html, '<a href="https://c/live/h1">Watch live</a>');
  // And the camera's recording of that moment: the live view at the event's second.
  assertStringIncludes(
    good.text,
    "Watch the recording of that moment: https://c/live/h1?at=2026-12-05T10:00:00Z",
  );
  assertStringIncludes(
    good.html,
    '<a href="https://c/live/h1?at=2026-12-05T10:00:00Z">Watch the recording</a>',
  );
  // And a minute of it as a file: the live view saving it from just before that second.
  assertStringIncludes(
    good.text,
    "Save a minute of it as a file: https://c/live/h1?clip=2026-12-05T10:00:00Z",
  );
  assertStringIncludes(
    good.html,
    '<a href="https://c/live/h1?clip=2026-12-05T10:00:00Z">Save a clip</a>',
  );
  assert(!bad.text.includes("Watch the recording"));
  assert(!bad.text.includes("Save a minute"));
});

Deno.test("digest mail: the count and kinds in the subject, a line per listed event, the rest counted; a count that stopped short says so", () => {
  const start = Date.UTC(2026, 11, 5, 14, 0);
  const row = (i: number) => ({
    at: start + i * 1000,
    type: "device.down",
    subject: { name: `Cam\r\nBcc: x@example.com ${i}`, siteName: "Depot" },
    detail: { error: "connection refused" },
  });
  const window = { start, end: start + 600_000, each: 5, minutes: 10 };
  const m = digestMail({
    ...window,
    rows: [row(0), row(1)],
    kinds: { "device.down": 40, "camera.motion": 3 },
    total: 43,
    atLeast: false,
  }, "https://c.example");
  assertEquals(m.subject, "43 alerts 14:00–14:10 UTC: Device port down ×40, Motion detected ×3");
  assertStringIncludes(
    m.text,
    "14:00:01  Device port down: Cam Bcc: x@example.com 1 (Depot) — connection refused\n",
  );
  assertStringIncludes(m.text, "…and 41 more on the Events page.");
  assertStringIncludes(m.html, 'the <a href="https://c.example/events">Events</a> page');
  assertEquals(m.picture, undefined);
  const many = digestMail(
    { ...window, rows: [row(0)], kinds: { "device.down": 5000 }, total: 5000, atLeast: true },
    "https://c.example",
  );
  assert(many.subject.startsWith("5000+ alerts 14:00–14:10 UTC"), many.subject);
  assertStringIncludes(many.text, "…and 4999+ more");
});
