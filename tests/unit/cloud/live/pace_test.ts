// Pacing a recording sent faster than it plays: pictures delivered ahead of their due time at the
// chosen speed (past the lead) make reading wait just that long; pictures behind do not; the
// first picture sets the start. Time is a clock the test moves.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { Pace } from "../../../../src/cloud/live/pace.ts";
import { TIMESCALE } from "../../../../src/cloud/live/fmp4.ts";

Deno.test("pace: at 4×, 8 s of pictures are due 2 s after the first; the lead may run ahead", () => {
  let now = 1_000;
  const pace = new Pace(4, () => now, 300);
  assertEquals(pace.ahead(), 0, "nothing delivered: read");
  pace.seen(5 * TIMESCALE);
  assertEquals(pace.ahead(), 0, "the first picture is due now");
  // The camera sent 8 s of the recording at once: due 2 s after the first, less the lead.
  pace.seen(13 * TIMESCALE);
  assertEquals(pace.ahead(), 1_700);
  now += 1_700;
  assertEquals(pace.ahead(), 0, "waited that long: read on");
  // Delivered behind their time (the camera slower than 4×): never a wait.
  now += 5_000;
  pace.seen(14 * TIMESCALE);
  assertEquals(pace.ahead(), 0);
});

Deno.test("pace: at 2× a second of pictures is due in half a second", () => {
  let now = 0;
  const pace = new Pace(2, () => now, 0);
  pace.seen(0);
  pace.seen(TIMESCALE);
  assertEquals(pace.ahead(), 500);
  now = 499;
  assertEquals(pace.ahead(), 1);
  now = 500;
  assertEquals(pace.ahead(), 0);
});
