/**
 * The one idle sweep over every tunnel with an idle timeout: a quiet tunnel is called once after
 * its timeout, a busy one never, and the sweep's timer stops when nothing is watched (the test
 * sanitizer fails on a timer left behind).
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { IdleSweep, sweepInterval } from "../../../../src/shared/transport/idle_sweep.ts";
import { until } from "../../../_fixtures/until.ts";

Deno.test("idle sweep: a quiet tunnel is closed once after its timeout, a busy one stays", async () => {
  const sweep = new IdleSweep();
  let quietCalls = 0;
  let busyCalls = 0;
  const quiet = { lastActivity: Date.now(), idleMs: 200, onIdle: () => quietCalls++ };
  const busy = { lastActivity: Date.now(), idleMs: 200, onIdle: () => busyCalls++ };
  sweep.add(quiet);
  sweep.add(busy);
  const keepBusy = setInterval(() => (busy.lastActivity = Date.now()), 20);
  try {
    await until("the quiet tunnel's timeout", () => quietCalls > 0, 10_000, 10);
    // Within a generous bound of its 200 ms (a loaded machine), and only once.
    assert(Date.now() - quiet.lastActivity < 5_000);
    await new Promise((r) => setTimeout(r, 400));
    assertEquals(quietCalls, 1);
    assertEquals(busyCalls, 0);
    assertEquals(sweep.size, 1);
  } finally {
    clearInterval(keepBusy);
    sweep.delete(busy);
  }
  assertEquals(sweep.size, 0);
});

Deno.test("idle sweep: runs a quarter of the shortest timeout, between 50 ms and 5 s", () => {
  assertEquals(sweepInterval(100), 50);
  assertEquals(sweepInterval(1_000), 250);
  assertEquals(sweepInterval(30 * 60_000), 5_000);
});
