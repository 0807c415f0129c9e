// The agent's day counters: UTC rollover, restore after restart, stats.json written 0600.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { Stats, utcDay } from "../../../src/agent/stats.ts";
import { loadStats, saveStats, STATS_FILE } from "../../../src/agent/stats_file.ts";

Deno.test("stats: totals restart at the UTC day boundary; active streams do not", () => {
  let now = Date.UTC(2026, 10, 23, 23, 59, 59);
  const s = new Stats(() => now);
  s.bytesUp = 10;
  s.bytesDown = 20;
  s.tunnelsOpened = 1;
  s.activeStreams = 2;
  assertEquals(s.snapshot(), {
    activeStreams: 2,
    bytesUp: 10,
    bytesDown: 20,
    tunnelsOpened: 1,
    day: "2026-11-23",
  });
  now += 1000;
  assertEquals(s.snapshot(), {
    activeStreams: 2,
    bytesUp: 0,
    bytesDown: 0,
    tunnelsOpened: 0,
    day: "2026-11-24",
  });
  assertEquals(utcDay(Date.UTC(2026, 0, 1)), "2026-01-01");
});

Deno.test("stats.json: saved atomically 0600, restored on the same day only, garbage ignored", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let now = Date.UTC(2026, 10, 23, 12);
    const a = new Stats(() => now);
    a.bytesUp = 1234;
    a.bytesDown = 5678;
    a.tunnelsOpened = 3;
    await saveStats(dir, a);
    assertEquals((await Deno.stat(`${dir}/${STATS_FILE}`)).mode! & 0o777, 0o600);
    const b = new Stats(() => now);
    await loadStats(dir, b);
    assertEquals([b.bytesUp, b.bytesDown, b.tunnelsOpened], [1234, 5678, 3]);
    now += 24 * 3600_000;
    const c = new Stats(() => now);
    await loadStats(dir, c);
    assertEquals([c.bytesUp, c.bytesDown, c.tunnelsOpened], [0, 0, 0], "yesterday's file");
    for (const junk of ["{", "[]", `{"day":"x","bytesUp":-1}`, ""]) {
      await Deno.writeTextFile(`${dir}/${STATS_FILE}`, junk);
      const d = new Stats(() => now);
      await loadStats(dir, d);
      assertEquals(d.bytesUp, 0);
    }
    const none = new Stats();
    await loadStats(`${dir}/missing`, none);
    assert(none.bytesUp === 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
