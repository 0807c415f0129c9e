import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import { alertMail } from "../../../../src/cloud/events/alert_mail.ts";

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
});
