// The SQLite store's statistics jobs work a page of agents at a time (STATS_AGENT_PAGE), with a
// turn of the event loop between pages, so a big fleet's 30 days of hourly rows never hold the
// cloud's event loop in one statement. On a real file with more agents than three pages: every
// agent's sums are right across page boundaries, purging removes exactly the old hours, and
// timers ran while the jobs did.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { openSqliteStore, STATS_AGENT_PAGE } from "../../../../src/cloud/store/sqlite.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

Deno.test("sqlite stats jobs: pages of agents, right sums across pages, the event loop turns", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    await (await openSqliteStore({ path })).close();
    const agents = 3 * STATS_AGENT_PAGE + 17;
    const day0 = Date.UTC(2026, 2, 1);
    // Three days of hours for each agent: agent a moved a bytes up in every hour.
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const ins = db.prepare("INSERT INTO agent_stats_hourly VALUES (?, ?, ?, ?, ?, ?)");
    for (let a = 0; a < agents; a++) {
      for (let h = 0; h < 72; h++) ins.run(`ag_${a}`, `t_${a % 7}`, day0 + h * HOUR, a, 2 * a, 1);
    }
    db.exec("COMMIT");
    db.close();

    const store = await openSqliteStore({ path });
    try {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 0);
      try {
        assertEquals(await store.addHourToDaily(day0 + 5 * HOUR), agents);
        assertEquals(await store.reconcileDailyStats("2026-03-02"), agents);
      } finally {
        clearInterval(timer);
      }
      assert(ticks > 0, "timers ran between pages");
      for (
        const a of [0, STATS_AGENT_PAGE - 1, STATS_AGENT_PAGE, 2 * STATS_AGENT_PAGE + 1, agents - 1]
      ) {
        const rows = await store.listAgentDailyStats(`t_${a % 7}`, `ag_${a}`, "2026-03-01");
        assertEquals(
          rows.map((r) => [r.day, r.bytesUp, r.bytesDown, r.tunnels]),
          [["2026-03-01", a, 2 * a, 1], ["2026-03-02", 24 * a, 48 * a, 24]],
          `agent ${a}`,
        );
      }
      const purged = await store.purgeExpired({
        hourlyBefore: day0 + DAY,
        dailyBefore: "2026-01-01",
        cliSessionsBefore: 0,
      });
      assertEquals(purged.hourly, agents * 24, "the first day's hours of every agent");
      assertEquals(await store.reconcileDailyStats("2026-03-01"), 0, "nothing left of that day");
      assertEquals(await store.reconcileDailyStats("2026-03-03"), agents);
    } finally {
      await store.close();
    }
  }));
