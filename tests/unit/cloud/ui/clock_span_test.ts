import { assertEquals } from "../../../_fixtures/assert.ts";
import { CLOCK_SPAN_JS } from "../../../../src/cloud/ui/clock_span.ts";

// The page-side function, as the pages run it.
const clockSpan = new Function(`${CLOCK_SPAN_JS}; return clockSpan;`)() as (s: number) => string;

Deno.test("clockSpan: to the minute past an hour (a second short of 2 h is 2 h), else minutes and seconds; behind or ahead", () => {
  assertEquals(clockSpan(7199), "2 h 0 min ahead");
  assertEquals(clockSpan(-(3 * 3600 + 5 * 60) + 1), "3 h 5 min behind");
  assertEquals(clockSpan(-3629), "1 h 0 min behind");
  assertEquals(clockSpan(250), "4 min 10 s ahead");
  assertEquals(clockSpan(-42), "42 s behind");
  assertEquals(clockSpan(60), "1 min 0 s ahead");
});
