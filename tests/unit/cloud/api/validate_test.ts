// A refused body's message names its field once: `speed: from -1 (nearer) to 1 (farther)`, not
// `speed: speed: …` (the schemas' own messages that already name it), and a message that does
// not gets the field put before it.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { issueMessage } from "../../../../src/cloud/api/validate.ts";
import { focusBody, recordingEventsBody } from "../../../../src/cloud/api/schemas.ts";

const message = (
  schema: { safeParse(v: unknown): { error?: { issues: unknown[] } } },
  v: unknown,
) => issueMessage(schema.safeParse(v).error!.issues as Parameters<typeof issueMessage>[0]);

Deno.test("issueMessage: the field named once, whether the schema's message names it or not", () => {
  assertEquals(
    message(focusBody, { action: "nudge", speed: 2 }),
    "speed: from -1 (nearer) to 1 (farther)",
  );
  assertEquals(
    message(recordingEventsBody, { from: "yesterday" }),
    "from: an instant in UTC, as 2026-12-06T03:00:00Z",
  );
  assertEquals(
    message(recordingEventsBody, {
      from: "2026-12-05T18:00:00Z",
      until: "2026-12-05T17:00:00.5000Z",
    }),
    "until: an instant in UTC, as 2026-12-06T03:00:00Z",
  );
  assertEquals(
    message(recordingEventsBody, {
      from: "2026-12-05T18:00:00Z",
      until: "2026-12-05T17:00:00.500Z",
    }),
    "until: after from",
  );
  assertEquals(message(recordingEventsBody, {}).startsWith("from: "), true);
  assertEquals(message(focusBody, []).startsWith("body: "), true);
});
