// Leadership handover on a graceful stop, over a real (SQLite) store: a node that stops its
// background jobs and its presence job resigns their locks, so another node (or the same node
// restarted, with a new owner name) leads on its next tick instead of 90 s later; a node that
// dies without stopping keeps them until the lease runs out.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { until } from "../../../_fixtures/until.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import {
  JOB_NAMES,
  runJobsOnce,
  startBackgroundJobs,
} from "../../../../src/cloud/jobs/stats_jobs.ts";
import { asLeader, JOB_LOCK_TTL_MS, resign } from "../../../../src/cloud/jobs/leader.ts";
import { PRESENCE_JOB, startPresenceJob } from "../../../../src/cloud/events/agent_availability.ts";
import type { EventProducer } from "../../../../src/cloud/events/producer.ts";

const idle = () => Promise.resolve();

/** Who holds the lock `lock:<name>` in the database at `path` (read only: taking it would race). */
function holder(path: string, name: string): string | null {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const row = db.prepare("SELECT owner FROM locks WHERE name = ?").get(`lock:${name}`);
    return row ? String(row.owner) : null;
  } finally {
    db.close();
  }
}

Deno.test("a node that stops gracefully resigns its job locks: the next node leads at once", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const first = { store, clock, owner: "node-1/10/a" };
      const stop = startBackgroundJobs(first);
      // Its first tick (a second after start) takes every job's lock.
      await until(
        "the first node leads",
        () => JOB_NAMES.every((job) => holder(`${dir}/c.db`, job) === first.owner),
      );
      await stop();
      for (const job of JOB_NAMES) assertEquals(holder(`${dir}/c.db`, job), null);
      // No time has passed: only the resignation lets the restarted node lead.
      const restarted = { store, clock, owner: "node-1/11/c" };
      assertEquals(await runJobsOnce(restarted), [...JOB_NAMES]);
    } finally {
      await store.close();
    }
  }));

Deno.test("the presence job resigns its lock on stop; a holder that died keeps it for the lease", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const events = { emit: () => Promise.reject(new Error("no events expected")) };
      const stop = startPresenceJob({
        store,
        events: events as unknown as EventProducer,
        clock,
        owner: "node-1/10/a",
        graceMs: 1_000, // a tick every 250 ms
      });
      await until(
        "the presence job leads",
        () => holder(`${dir}/c.db`, PRESENCE_JOB) === "node-1/10/a",
      );
      await stop();
      assertEquals(holder(`${dir}/c.db`, PRESENCE_JOB), null);
      assert(await asLeader(store, PRESENCE_JOB, "node-2/20/b", idle), "taken over at once");

      // node-2 dies holding it (no resignation): node-3 waits for the lease to run out.
      assert(!(await asLeader(store, PRESENCE_JOB, "node-3/30/c", idle)));
      clock.advance(JOB_LOCK_TTL_MS - 1);
      assert(!(await asLeader(store, PRESENCE_JOB, "node-3/30/c", idle)));
      clock.advance(1);
      assert(await asLeader(store, PRESENCE_JOB, "node-3/30/c", idle));
      // Resigning a lock another owner holds changes nothing.
      await resign(store, [PRESENCE_JOB], "node-2/20/b");
      assert(!(await asLeader(store, PRESENCE_JOB, "node-2/20/b", idle)));
    } finally {
      await store.close();
    }
  }));
