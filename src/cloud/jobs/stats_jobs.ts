/**
 * The cloud's background jobs (guide §5.4, §9), run on every node on every tick, each under its
 * own leader lock so exactly one node does each job at a time:
 * - `hourly-rollup`: adds each completed hour's per-agent hourly rows to the agents' daily rows
 *   (not idempotent, hence the lock; its progress is a shared counter, so a new leader goes on
 *   where the old one stopped);
 * - `daily-rollup`: every hour, sets yesterday's and today's daily rows to the sum of their
 *   hourly rows (hourly is the source of truth; this repairs any drift of the rollup);
 * - `stats-janitor`: daily, reconciles every day the hourly rows still cover, then drops hourly
 *   rows older than 30 days, daily rows older than 365 days, CLI sessions ended (expired or
 *   revoked) more than 30 days ago, and expired web sessions, unused enrollment tokens,
 *   presence leases and locks; events older than 90 days and finished webhook deliveries; and,
 *   with `--audit-retention-days`, audit entries older than that (each tenant's trail records
 *   an `audit.purge`);
 * - `expiry-sweep`: hourly, drops the expired records that only take room (web sessions, unused
 *   enrollment tokens, presence leases, locks, ended rate-limit windows) between two janitor
 *   runs: a guesser spraying addresses leaves up to three rate-limit rows per failed sign-in, so
 *   a day of them would pile up until the janitor; an hour of them at most does now.
 * The hourly rows themselves are written on each agent heartbeat by the node that holds the
 * agent (`Store.recordAgentCounters`, a per-agent compare-and-set), so no lock is needed there.
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { dayOf, dayStart, hourOf } from "../store/rules.ts";
import type { Store } from "../store/store.ts";
import { asLeader, startLeaderTicks } from "./leader.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Retention of hourly and daily rows (guide §9). */
export const RETENTION = {
  hourlyDays: 30,
  dailyDays: 365,
  endedCliSessionDays: 30,
  /** Events, and webhook deliveries that are done (issue 15), unless `--event-retention-days`. */
  eventDays: 90,
} as const;

/** An hour is rolled up this long after it ended (a late heartbeat may still land in it). */
export const ROLLUP_GRACE_MS = 5 * 60_000;

/** At most this many hours are rolled up per tick (catching up after a long outage). */
const MAX_HOURS_PER_TICK = 48;

/** The jobs, in the order a tick runs them. */
export const JOB_NAMES = [
  "hourly-rollup",
  "daily-rollup",
  "stats-janitor",
  "expiry-sweep",
] as const;

/** A job's name. */
export type JobName = (typeof JOB_NAMES)[number];

/** What the jobs need. */
export interface JobDeps {
  store: Store;
  clock: Clock;
  /** This node's lock owner name (see `lockOwner`). */
  owner: string;
  log?: Logger;
  /** `--audit-retention-days`: the janitor purges older audit entries (null/absent: keeps all). */
  auditRetentionDays?: number | null;
  /** `--event-retention-days`: the janitor purges older events (absent: RETENTION.eventDays). */
  eventRetentionDays?: number;
}

/** Counter names holding the jobs' shared progress. */
const NEXT_HOUR = "job:hourly-rollup:next-hour";
const due = (job: JobName) => `job:${job}:next-run`;

/** Reads a shared counter (adding 0). */
const read = (store: Store, name: string) => store.incrementCounter(name, 0);

/** Moves a shared counter to `value` (the caller holds the job's lock). */
async function setCounter(store: Store, name: string, value: number): Promise<void> {
  await store.incrementCounter(name, value - await read(store, name));
}

/**
 * Whether a job that runs every `everyMs` is due at `now`; if so, books its next run first (a
 * crash during the run then skips one run; the next run covers it, as every job catches up).
 */
async function bookIfDue(d: JobDeps, job: JobName, everyMs: number): Promise<boolean> {
  const now = d.clock.now();
  if (now < await read(d.store, due(job))) return false;
  await setCounter(d.store, due(job), now + everyMs);
  return true;
}

async function hourlyRollup(d: JobDeps): Promise<void> {
  const now = d.clock.now();
  let next = await read(d.store, NEXT_HOUR);
  if (next === 0) {
    // First run on this database: start a day back (older days are the reconciliation's).
    next = hourOf(now) - DAY;
    await setCounter(d.store, NEXT_HOUR, next);
  }
  for (let n = 0; n < MAX_HOURS_PER_TICK && next + HOUR + ROLLUP_GRACE_MS <= now; n++) {
    // The claim (moving the shared progress past the hour, atomically: the value returned is
    // this caller's alone, even if a slow former leader still runs) comes before the effect
    // (adding the hour): a crash between them leaves that hour missing from the day until the
    // daily reconciliation restores it; an hour is never added twice.
    const hour = (await d.store.incrementCounter(NEXT_HOUR, HOUR)) - HOUR;
    if (hour + HOUR + ROLLUP_GRACE_MS > now) {
      await d.store.incrementCounter(NEXT_HOUR, -HOUR); // another runner got ahead: give it back
      return;
    }
    await d.store.addHourToDaily(hour);
    next = hour + HOUR;
  }
}

async function dailyRollup(d: JobDeps): Promise<void> {
  if (!(await bookIfDue(d, "daily-rollup", HOUR))) return;
  const now = d.clock.now();
  await d.store.reconcileDailyStats(dayOf(now - DAY));
  await d.store.reconcileDailyStats(dayOf(now));
}

async function statsJanitor(d: JobDeps): Promise<void> {
  if (!(await bookIfDue(d, "stats-janitor", DAY))) return;
  const now = d.clock.now();
  // Whole days only: hourly rows are dropped per day, and only days the hourly rows still
  // cover in full are reconciled (a partly dropped day would shrink its daily row).
  const hourlyBefore = dayStart(dayOf(now - RETENTION.hourlyDays * DAY));
  for (let t = hourlyBefore; t <= now; t += DAY) {
    await d.store.reconcileDailyStats(dayOf(t));
  }
  const purged = await d.store.purgeExpired({
    hourlyBefore,
    dailyBefore: dayOf(now - RETENTION.dailyDays * DAY),
    cliSessionsBefore: now - RETENTION.endedCliSessionDays * DAY,
  });
  const events = await d.store.purgeEvents(
    now - (d.eventRetentionDays ?? RETENTION.eventDays) * DAY,
  );
  const audit = d.auditRetentionDays ? await purgeAudit(d, d.auditRetentionDays) : null;
  d.log?.info({ purged, events, audit }, "stats janitor ran");
}

async function expirySweep(d: JobDeps): Promise<void> {
  if (!(await bookIfDue(d, "expiry-sweep", HOUR))) return;
  // Only what expired: the statistics' rows (cut-offs that match nothing here) are the
  // janitor's, which reconciles each day before it drops its hourly rows.
  const purged = await d.store.purgeExpired({
    hourlyBefore: 0,
    dailyBefore: "",
    cliSessionsBefore: d.clock.now() - RETENTION.endedCliSessionDays * DAY,
  });
  if (Object.values(purged).some((n) => n > 0)) d.log?.info({ purged }, "expired records swept");
}

/**
 * The audit retention purge: entries older than `days` go, and each tenant whose trail lost
 * entries gets one `audit.purge` entry saying how many and up to when, so its trail shows why
 * it starts where it does. Returns how many went in all.
 */
async function purgeAudit(d: JobDeps, days: number): Promise<number> {
  const before = d.clock.now() - days * DAY;
  const r = await d.store.purgeAudit(before);
  for (const [tenant, entries] of Object.entries(r.byTenant)) {
    await d.store.appendAudit({
      tenantId: tenant === "" ? null : tenant,
      actor: "system",
      action: "audit.purge",
      target: "",
      detail: { before, entries, retentionDays: days },
    });
  }
  return r.entries;
}

const RUN: Record<JobName, (d: JobDeps) => Promise<void>> = {
  "hourly-rollup": hourlyRollup,
  "daily-rollup": dailyRollup,
  "stats-janitor": statsJanitor,
  "expiry-sweep": expirySweep,
};

/**
 * One tick: tries every job (or only those named) under its lock; returns the jobs this node
 * led. A failing job is logged and does not stop the others.
 */
export async function runJobsOnce(d: JobDeps, only?: readonly JobName[]): Promise<JobName[]> {
  const led: JobName[] = [];
  for (const job of only ?? JOB_NAMES) {
    try {
      if (await asLeader(d.store, job, d.owner, () => RUN[job](d))) led.push(job);
    } catch (e) {
      d.log?.warn({ job, err: (e as Error).message }, "background job failed");
    }
  }
  return led;
}

/**
 * Runs {@linkcode runJobsOnce} once shortly after start (catching up after downtime) and then
 * every `intervalMs` (default 60 s) until the returned function stops it ({@linkcode
 * startLeaderTicks}: stopping resigns the job locks).
 */
export function startBackgroundJobs(d: JobDeps & { intervalMs?: number }): () => Promise<void> {
  return startLeaderTicks({
    store: d.store,
    owner: d.owner,
    locks: JOB_NAMES,
    run: () => runJobsOnce(d),
    everyMs: d.intervalMs ?? 60_000,
    firstAfterMs: 1_000,
  });
}
