/**
 * `Deadlines`: coarse timeouts of one length on one timer. A timeout fires once it is due and
 * not before, in the order started; a cancelled one never fires; no timer is left running once
 * nothing is pending (the test sanitizer would report it), and the timer is not started again
 * for every timeout while one runs. Time is the injected clock.
 */
import { assertEquals } from "../../_fixtures/assert.ts";
import { Deadlines, deadlinesOf } from "../../../src/shared/deadlines.ts";

Deno.test("deadlines: fire when due, in order; cancelled ones never; nothing left running", () => {
  let now = 1_000;
  const d = new Deadlines(5_000, { now: () => now });
  assertEquals(d.resolutionMs, 250);
  const fired: string[] = [];
  d.start(() => fired.push("a"));
  now += 1_000;
  const cancelB = d.start(() => fired.push("b"));
  now += 1_000;
  d.start(() => fired.push("c"));
  assertEquals(d.size, 3);

  now = 5_999; // a is due at 6 000
  d.sweep();
  assertEquals(fired, []);
  now = 6_000;
  d.sweep();
  assertEquals(fired, ["a"]);
  cancelB();
  now = 20_000;
  d.sweep();
  assertEquals(fired, ["a", "c"]);
  assertEquals(d.size, 0);
  // Cancelling what already fired changes nothing.
  cancelB();
  assertEquals(d.size, 0);
});

Deno.test("deadlines: a throwing timeout does not stop the others; cancelling the last stops the timer", async () => {
  let now = 0;
  const d = new Deadlines(100, { now: () => now });
  assertEquals(d.resolutionMs, 10);
  const fired: number[] = [];
  d.start(() => {
    throw new Error("boom");
  });
  d.start(() => fired.push(2));
  now = 100;
  d.sweep();
  assertEquals(fired, [2]);
  // Pending, then cancelled: the interval stops at its next tick (the sanitizer checks).
  const cancel = d.start(() => fired.push(3));
  cancel();
  assertEquals(d.size, 0);
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(fired, [2]);
});

Deno.test("deadlines: timeouts started and cancelled one after another share one timer", async () => {
  // Under load a kept-alive connection starts and cancels a timeout per request, and the set
  // empties between requests: one interval timer serves them all, and it stops once idle.
  const real = globalThis.setInterval;
  let started = 0;
  globalThis.setInterval = ((fn: () => void, ms?: number) => {
    started++;
    return real(fn, ms);
  }) as typeof setInterval;
  try {
    const d = new Deadlines(100);
    for (let i = 0; i < 1_000; i++) d.start(() => {})();
    assertEquals(d.size, 0);
    assertEquals(started, 1);
    // Idle: the timer stopped at its next tick, so the next timeout starts one again.
    await new Promise((r) => setTimeout(r, 50));
    d.start(() => {})();
    assertEquals(started, 2);
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    globalThis.setInterval = real;
  }
});

Deno.test("deadlines: a real timeout fires within its resolution, and lengths are shared", async () => {
  const d = deadlinesOf(60);
  assertEquals(deadlinesOf(60), d);
  const t0 = Date.now();
  // The sweep's timer never keeps a process alive by itself: this one does, for the test.
  const hold = setTimeout(() => {}, 10_000);
  const at = await new Promise<number>((resolve) => d.start(() => resolve(Date.now())));
  clearTimeout(hold);
  const waited = at - t0;
  // Never early; the upper bound is loose (a loaded machine delays every timer).
  assertEquals(waited >= 60, true, `fired after ${waited} ms`);
});
