// The clock checks of clock_skew.ts: how far off, when it matters, and the words.
import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import {
  AHEAD_TOLERANCE_MS,
  BEHIND_TOLERANCE_MS,
  clockHint,
  clockSkew,
  humanSpan,
  skewProblem,
  skewWarning,
} from "../../../src/agent/clock_skew.ts";

const NOW = Date.UTC(2026, 11, 5, 2, 0, 0);

Deno.test("clock skew from the cloud's time or Date header", () => {
  assertEquals(clockSkew("2026-12-05T01:00:00.000Z", NOW), 3_600_000);
  assertEquals(clockSkew("Sat, 05 Dec 2026 03:00:00 GMT", NOW), -3_600_000);
  assertEquals(clockSkew(null, NOW), null);
  assertEquals(clockSkew("not a date", NOW), null);
});

Deno.test("a clock behind is refused past the backdating; far ahead, a warning", () => {
  for (const skew of [null, 0, -BEHIND_TOLERANCE_MS, AHEAD_TOLERANCE_MS, 30_000, 86_400_000 * 9]) {
    assertEquals(skewProblem(skew, NOW), null, String(skew));
  }
  const behind = skewProblem(-BEHIND_TOLERANCE_MS - 60_000, NOW)!;
  assertStringIncludes(behind, "this machine's clock is 5 min behind the cloud's");
  assertStringIncludes(behind, "(here 2026-12-05T02:00:00Z, the cloud 2026-12-05T02:05:00Z)");
  assertStringIncludes(behind, "would not be valid here yet");
  assertEquals(skewProblem(3 * 86_400_000, NOW), null, "ahead is not refused");
  const ahead = skewWarning(3 * 86_400_000, NOW)!;
  assertStringIncludes(ahead, "warning: this machine's clock is 3 days ahead of the cloud's");
  assertStringIncludes(ahead, "will look expired, and be renewed, that much early");
  assertEquals(skewWarning(AHEAD_TOLERANCE_MS, NOW), null);
  assertEquals(skewWarning(-86_400_000, NOW), null, "behind is the refusal's");
  assertEquals([humanSpan(5_000), humanSpan(-7_200_000), humanSpan(50 * 3_600_000)], [
    "5 s",
    "2 h",
    "2 days",
  ]);
});

Deno.test("a TLS failure on the cloud's certificate dates names the clock; others do not", () => {
  const yet = clockHint(
    "invalid peer certificate: certificate not valid yet: verification time 1 (UNIX)",
    NOW,
  );
  assert(yet?.includes("not valid yet by this machine's clock (here 2026-12-05T02:00:00Z)"));
  const expired = clockHint("invalid peer certificate: certificate expired: …", NOW);
  assert(expired?.includes("has expired by this machine's clock"));
  assertEquals(clockHint("connection refused", NOW), null);
  assertEquals(clockHint("certificate expired: re-enroll", NOW), null, "the agent's own");
});
