/**
 * Audit retention on a real (SQLite) store through the daily janitor, as `connector cloud
 * --audit-retention-days` runs it: without the setting nothing goes; with 30 days the entries of
 * 50 and 100 days ago go, the recent ones stay, and each tenant that lost entries (and the
 * tenantless system trail) gets one `audit.purge` entry saying how many and up to when.
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { runJobsOnce } from "../../../../src/cloud/jobs/stats_jobs.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";

const DAY = 86_400_000;

Deno.test("audit retention: off keeps the trail; 30 days purges older entries and says so per tenant", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 5, 1));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const a = await store.createTenant({ name: "Acme" });
      const b = await store.createTenant({ name: "Bolt" });
      const start = clock.now();
      const at = (daysAgo: number) => clock.set(start + (100 - daysAgo) * DAY);
      const add = (tenantId: string | null, action: string) =>
        store.appendAudit({ tenantId, actor: "user:u", action, target: "", detail: {} });
      at(100);
      await add(a.id, "old-a");
      await add(null, "old-system");
      at(50);
      await add(b.id, "old-b");
      await add(a.id, "old-a2");
      at(5);
      await add(a.id, "recent-a");
      await add(b.id, "recent-b");
      clock.set(start + 100 * DAY);
      const actions = async () => (await store.listAudit({})).map((e) => e.action).reverse();
      const all = await actions();

      await runJobsOnce({ store, clock, owner: "n/1/x" }, ["stats-janitor"]);
      assert.deepEqual(await actions(), all, "no setting: the whole trail stays");

      clock.advance(DAY + 1); // the janitor is due again
      await runJobsOnce({ store, clock, owner: "n/1/x", auditRetentionDays: 30 }, [
        "stats-janitor",
      ]);
      assert.deepEqual(await actions(), [
        "recent-a",
        "recent-b",
        "audit.purge",
        "audit.purge",
        "audit.purge",
      ]);
      const before = clock.now() - 30 * DAY;
      const purges = (await store.listAudit({ action: "audit.purge" })).reverse();
      assert.deepEqual(
        purges.map((e) => [e.tenantId, e.actor, e.detail]),
        [
          [a.id, "system", { before, entries: 2, retentionDays: 30 }],
          [null, "system", { before, entries: 1, retentionDays: 30 }],
          [b.id, "system", { before, entries: 1, retentionDays: 30 }],
        ],
      );
      assert.deepEqual(
        (await store.listAudit({ tenantId: b.id })).map((e) => e.action),
        ["audit.purge", "recent-b"],
        "each tenant's own trail shows its purge",
      );
    } finally {
      await store.close();
    }
  }));
