/**
 * The background jobs on two nodes sharing one database (SQLite file, and MongoDB on FerretDB):
 * both run every job on the same ticks of an injected clock, across three hours and a day
 * boundary, and the daily totals equal what one node alone computes and what the agents
 * reported; exactly one node leads each job per tick, the leader keeps its lock by renewing it
 * and loses it to the other node 90 s after it stops; the janitor keeps only what is within
 * retention, and the hourly sweep drops ended rate-limit windows between two janitor runs.
 * @module
 */
import assert from "node:assert/strict";
import pino from "pino";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { openMongoStore } from "../../../../src/cloud/store/mongo.ts";
import type { AgentDailyStat, Store } from "../../../../src/cloud/store/store.ts";
import { type JobName, runJobsOnce } from "../../../../src/cloud/jobs/stats_jobs.ts";
import { dayOf } from "../../../../src/cloud/store/rules.ts";
import { startFerretDb } from "../../../_fixtures/ferretdb.ts";

const MIN = 60_000;
const DAY = 86_400_000;
const AGENTS = ["ag-1", "ag-2", "ag-3"];
const TENANT = "t-jobs";

/** Opens `n` stores on one fresh database. */
type OpenNodes = (clock: ManualClock, n: number) => Promise<Store[]>;

async function dailyOf(store: Store): Promise<AgentDailyStat[]> {
  const out: AgentDailyStat[] = [];
  for (const a of AGENTS) out.push(...await store.listAgentDailyStats(TENANT, a, "2000-01-01"));
  return out;
}

async function scenario(openNodes: OpenNodes): Promise<void> {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 21, 5));
  const [a, b] = await openNodes(clock, 2);
  const [one] = await openNodes(clock, 1);
  const nodes = [
    { store: a, clock, owner: "node-a/1/x" },
    { store: b, clock, owner: "node-b/2/y" },
  ];
  const single = { store: one, clock, owner: "solo/3/z" };
  try {
    // What the agents report: day totals that grow each tick and restart on a new day.
    const truth = new Map<string, { bytesUp: number; bytesDown: number; tunnels: number }>();
    const tick = async (only?: JobName[]) => {
      const led = await Promise.all(nodes.map((n) => runJobsOnce(n, only)));
      await runJobsOnce(single, only);
      for (const job of only ?? []) {
        assert.equal(led.filter((l) => l.includes(job)).length, 1, `one leader of ${job}`);
      }
    };
    for (let i = 0; clock.now() < Date.UTC(2026, 2, 2, 1, 45); i++) {
      const day = dayOf(clock.now());
      for (const [k, agentId] of AGENTS.entries()) {
        const key = `${agentId}|${day}`;
        const t = truth.get(key) ?? { bytesUp: 0, bytesDown: 0, tunnels: 0 };
        t.bytesUp += (k + 1) * 1000 + i;
        t.bytesDown += 2 * ((k + 1) * 1000 + i);
        t.tunnels += 1;
        truth.set(key, t);
        const report = { agentId, tenantId: TENANT, day, ...t };
        // The node holding the agent records its heartbeat; the lone node records them all.
        await nodes[(k + i) % 2].store.recordAgentCounters(report);
        await one.recordAgentCounters(report);
      }
      await tick(["hourly-rollup"]);
      clock.advance(10 * MIN);
    }

    // The hourly rollup alone (no reconciliation yet): hours 21-23 of day one and 00 of day two
    // are complete and rolled, on two nodes exactly as on one.
    const two = await dailyOf(a);
    assert.deepEqual(two, await dailyOf(one), "two nodes = one node");
    assert.deepEqual(await dailyOf(b), two, "both nodes read the same rows");
    for (const agentId of AGENTS) {
      const d1 = two.find((d) => d.agentId === agentId && d.day === "2026-03-01")!;
      const want = truth.get(`${agentId}|2026-03-01`)!;
      assert.deepEqual(
        { bytesUp: d1.bytesUp, bytesDown: d1.bytesDown, tunnels: d1.tunnels },
        want,
        `${agentId}: day one equals what the agent reported`,
      );
      const hourly = await a.listAgentHourlyStats(TENANT, agentId, Date.UTC(2026, 2, 2));
      const d2 = two.find((d) => d.agentId === agentId && d.day === "2026-03-02")!;
      assert.equal(d2.bytesUp, hourly[0].bytesUp, "day two so far: hour 00 only (01 is open)");
    }

    // All jobs, including the reconciliation and the janitor: still equal, and complete.
    for (let i = 0; i < 3; i++) {
      await tick([...["hourly-rollup", "daily-rollup", "stats-janitor"] as JobName[]]);
      clock.advance(30 * MIN);
    }
    const reconciled = await dailyOf(a);
    assert.deepEqual(reconciled, await dailyOf(one));
    for (const agentId of AGENTS) {
      for (const day of ["2026-03-01", "2026-03-02"]) {
        const d = reconciled.find((r) => r.agentId === agentId && r.day === day)!;
        const want = truth.get(`${agentId}|${day}`)!;
        assert.deepEqual({ bytesUp: d.bytesUp, bytesDown: d.bytesDown, tunnels: d.tunnels }, want);
      }
    }

    // Sticky leadership, and failover: the leader renews on its own ticks (the lock is "mine");
    // when it dies (stops ticking), the other node takes over once the 90 s lease has expired.
    clock.advance(10 * MIN);
    const first = await runJobsOnce(nodes[0], ["hourly-rollup"]);
    const leader = first.length ? 0 : 1;
    if (!first.length) assert.deepEqual(await runJobsOnce(nodes[1], ["hourly-rollup"]), []);
    clock.advance(60_000);
    assert.deepEqual(await runJobsOnce(nodes[leader], ["hourly-rollup"]), ["hourly-rollup"]);
    assert.deepEqual(await runJobsOnce(nodes[1 - leader], ["hourly-rollup"]), [], "held");
    clock.advance(60_000); // the leader died after its renewal: 60 s later its lease still holds
    assert.deepEqual(await runJobsOnce(nodes[1 - leader], ["hourly-rollup"]), []);
    clock.advance(30_001); // 90 s after the last renewal
    assert.deepEqual(await runJobsOnce(nodes[1 - leader], ["hourly-rollup"]), ["hourly-rollup"]);
    assert.deepEqual(
      await runJobsOnce(nodes[leader], ["hourly-rollup"]),
      [],
      "the old leader lost it",
    );

    // 31 days on: a fresh heartbeat, then the janitor drops hourly rows older than 30 days and
    // keeps the daily rows (365 days) and the fresh hour.
    clock.advance(31 * DAY);
    const today = dayOf(clock.now());
    for (const s of [a, one]) {
      await s.recordAgentCounters({
        agentId: "ag-1",
        tenantId: TENANT,
        day: today,
        bytesUp: 5,
        bytesDown: 5,
        tunnels: 1,
      });
    }
    await tick(["stats-janitor"]);
    for (const s of [a, one]) {
      const hours = await s.listAgentHourlyStats(TENANT, "ag-1", 0);
      assert.deepEqual(hours.map((h) => dayOf(h.hour)), [today], "only the fresh hour is kept");
      const days = (await dailyOf(s)).filter((d) => d.day < today).map((d) => d.day);
      assert.equal(days.length, 6, "daily rows are kept for a year");
    }

    // Ended rate-limit windows go within the hour, not at the next daily janitor: the sweep
    // drops them (and leaves the statistics' rows to the janitor).
    const lines: { msg?: string; purged?: { rateWindows: number; hourly: number } }[] = [];
    const log = pino({ level: "info" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    for (let i = 0; i < 3; i++) await a.hitRateWindow(`signin-ip:guess-${i}`, MIN);
    await a.hitRateWindow("signin-ip:still-open", 10 * MIN);
    const before = await a.listAgentHourlyStats(TENANT, "ag-1", 0);
    clock.advance(2 * MIN);
    const sweep = async () => {
      lines.length = 0;
      const led = await Promise.all(nodes.map((n) => runJobsOnce({ ...n, log }, ["expiry-sweep"])));
      assert.equal(led.flat().length, 1, "one node leads the sweep");
      return lines.find((l) => l.msg === "expired records swept")?.purged ?? null;
    };
    const swept = await sweep();
    assert.equal(swept?.rateWindows, 3, JSON.stringify(lines));
    assert.equal(swept?.hourly, 0, "the statistics' rows are the janitor's");
    assert.deepEqual(await a.listAgentHourlyStats(TENANT, "ag-1", 0), before);
    assert.equal(
      await a.rateWindowHits("signin-ip:still-open", 10 * MIN),
      1,
      "an open window stays",
    );
    // Hourly: a window that ends half an hour later waits for the next run.
    await a.hitRateWindow("signin-ip:later", MIN);
    clock.advance(30 * MIN);
    assert.equal(await sweep(), null, "not due yet");
    clock.advance(31 * MIN);
    assert.equal((await sweep())?.rateWindows, 2, "the later window and the long one");
  } finally {
    for (const s of [a, b, one]) await s.close();
  }
}

Deno.test("background jobs on two SQLite connections: totals equal one node's, janitor keeps retention", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-jobs-" });
  let n = 0;
  try {
    await scenario(async (clock, count) => {
      const path = `${dir}/db${++n}.db`;
      return await Promise.all(
        Array.from({ length: count }, () => openSqliteStore({ path, clock })),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("background jobs on two MongoDB nodes (FerretDB): totals equal one node's, janitor keeps retention", async () => {
  const ferret = await startFerretDb();
  let n = 0;
  try {
    await scenario(async (clock, count) => {
      const url = ferret.url.replace("/nanodems?", `/jobs${++n}?`);
      const stores: Store[] = [];
      for (let i = 0; i < count; i++) stores.push(await openMongoStore({ url, clock }));
      return stores;
    });
  } finally {
    await ferret.stop();
  }
});
