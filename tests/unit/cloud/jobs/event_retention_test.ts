/**
 * Event retention on a real (SQLite) store through the daily janitor, as `connector cloud
 * --event-retention-days` runs it: by default events older than 90 days go; with 30 days, those
 * of 50 days ago go too, the recent ones stay.
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { runJobsOnce } from "../../../../src/cloud/jobs/stats_jobs.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";

const DAY = 86_400_000;

Deno.test("event retention: 90 days by default; --event-retention-days 30 purges the older ones", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const t = await store.createTenant({ name: "Acme" });
      const start = clock.now();
      for (const daysAgo of [100, 50, 5]) {
        clock.set(start + (100 - daysAgo) * DAY);
        await store.appendEvent({
          tenantId: t.id,
          type: "device.down",
          subject: { name: `${daysAgo} days ago` },
          actor: "system",
          detail: {},
          key: `k${daysAgo}`,
        });
      }
      clock.set(start + 100 * DAY);
      const names = async () => (await store.listEvents(t.id)).map((e) => e.subject.name);

      await runJobsOnce({ store, clock, owner: "n/1/x" }, ["stats-janitor"]);
      assert.deepEqual(await names(), ["5 days ago", "50 days ago"], "the default: 90 days");

      clock.advance(DAY + 1); // the janitor is due again
      await runJobsOnce({ store, clock, owner: "n/1/x", eventRetentionDays: 30 }, [
        "stats-janitor",
      ]);
      assert.deepEqual(await names(), ["5 days ago"]);
    } finally {
      await store.close();
    }
  }));
