import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { Backoff } from "../../../src/agent/backoff.ts";

Deno.test("backoff: exponential, jittered into [½, 1] of the ceiling, capped at 15 s, resettable", () => {
  const hi = new Backoff({ random: () => 0.999999 });
  const seq = Array.from({ length: 8 }, () => hi.next());
  assertEquals(seq, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  const lo = new Backoff({ random: () => 0 });
  assertEquals([lo.next(), lo.next()], [250, 500]);
  for (let i = 0; i < 50; i++) assert(lo.next() <= 15_000);
  lo.reset();
  assertEquals(lo.next(), 250);
});
