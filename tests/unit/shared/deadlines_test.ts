/**
 * `Deadlines`: coarse timeouts of one length on one timer. A timeout fires once it is due and
 * not before, in the order started; a cancelled one never fires; no timer is left running once
 * nothing is pending (the test sanitizer would report it). Time is the injected clock.
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

Deno.test("deadlines: a throwing timeout does not stop the others; cancelling the last stops the timer", () => {
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
  // Pending, then cancelled: the interval stops with it (the sanitizer checks).
  const cancel = d.start(() => fired.push(3));
  cancel();
  assertEquals(d.size, 0);
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
