// The agent's idle trim: one full collection per quiet spell, none while a tunnel is open or
// bytes move, and the collector really frees garbage in this runtime; the executable's pages go
// back once per longer quiet spell.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { Stats } from "../../../src/agent/stats.ts";
import { fullCollector, startIdleTrim } from "../../../src/agent/idle_trim.ts";
import { until } from "../../_fixtures/until.ts";

Deno.test("idle trim: collects once when quiet, not while a tunnel is open, again after activity", async () => {
  const stats = new Stats();
  let runs = 0;
  let ticks = 0;
  const trim = startIdleTrim({ stats, quietMs: 10, collect: () => runs++, pageOut: null });
  // A tick counter on the same period, to let several quiet periods pass without sleeping blind.
  const tick = setInterval(() => ticks++, 10);
  try {
    await until("the first collection", () => runs === 1, 10_000, 5);
    let seen = ticks;
    await until("five more periods", () => ticks >= seen + 5, 10_000, 5);
    assertEquals(runs, 1, "one collection per quiet spell");

    stats.activeStreams = 1;
    stats.tunnelsOpened++;
    seen = ticks;
    await until("five periods with a tunnel open", () => ticks >= seen + 5, 10_000, 5);
    assertEquals(runs, 1, "nothing collected while a tunnel is open");

    stats.activeStreams = 0;
    stats.bytesUp += 100;
    await until("the collection after the tunnel closed", () => runs === 2, 10_000, 5);

    trim.bump();
    await until("the collection after a link change", () => runs === 3, 10_000, 5);
    assertEquals(trim.collections, 3);
  } finally {
    clearInterval(tick);
    trim.stop();
  }
});

Deno.test("idle trim: the executable's pages go back once after the longer quiet, again after activity", async () => {
  const stats = new Stats();
  let runs = 0;
  let pageOuts = 0;
  let ticks = 0;
  const trim = startIdleTrim({
    stats,
    quietMs: 10,
    collect: () => runs++,
    pageOut: () => {
      pageOuts++;
      return { mappings: 1, bytes: 4096, fileKiBBefore: 8, fileKiBAfter: 4 };
    },
    pageOutQuietMs: 100,
  });
  const tick = setInterval(() => ticks++, 10);
  try {
    await until("the collection", () => runs === 1, 10_000, 5);
    assertEquals(pageOuts, 0, "not before the longer quiet");
    await until("the page-out", () => pageOuts === 1, 10_000, 5);
    const seen = ticks;
    await until("twenty more periods", () => ticks >= seen + 20, 10_000, 5);
    assertEquals([runs, pageOuts], [1, 1], "once per quiet spell");

    stats.bytesDown += 1; // a burst, then quiet again: both again
    await until("the second page-out", () => pageOuts === 2, 10_000, 5);
    assertEquals([runs, trim.pageOuts], [2, 2]);
  } finally {
    clearInterval(tick);
    trim.stop();
  }
});

Deno.test("idle trim: the full collector frees unreachable objects in this runtime", () => {
  const collect = fullCollector();
  assert(collect, "a full collector is available without flags");
  collect();
  const before = Deno.memoryUsage().heapUsed;
  let garbage: unknown[] | null = Array.from({ length: 200_000 }, (_, i) => ({ i, s: `x${i}` }));
  const held = Deno.memoryUsage().heapUsed;
  assert(held > before + (4 << 20), "the garbage was allocated on the heap");
  garbage = null;
  collect();
  assert(garbage === null);
  assert(Deno.memoryUsage().heapUsed < held - (4 << 20), "the collection freed it");
});
