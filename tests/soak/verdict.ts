/**
 * The soak's verdict. After a warm-up (the larger of 2 minutes and the first 20% of the run,
 * but at most half of it) the resident memory of the cloud and of every agent that is never
 * restarted must not grow by more than the larger of 10% and 20 MiB along a least-squares line
 * through the samples; after the load stops and things settle, each process's open descriptors
 * must be back within a few of what they were before the load; no operation may end unexpectedly
 * and no process may log a last-resort "survived" line. Store growth is not judged (audit rows
 * legitimately accumulate) but reported per hour.
 * @module
 */
import type { Sample } from "./sample.ts";

/** The stated bounds. */
export const BOUNDS = {
  /** RSS growth after warm-up may be this fraction of the fitted starting RSS… */
  rssGrowthFraction: 0.10,
  /** …or this many MiB, whichever is larger. */
  rssGrowthMiB: 20,
  /** Descriptors after the load may exceed those before it by at most this many. */
  fdSlack: 16,
} as const;

/** One judged property. */
export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

/** The whole verdict. */
export interface Verdict {
  pass: boolean;
  warmupSeconds: number;
  checks: Check[];
  /** Store (db + WAL) growth under load after warm-up, MiB per hour (least squares). */
  storeMiBPerHour: number;
  /** The database file's growth alone, MiB per hour. */
  dbMiBPerHour: number;
}

/** Least-squares slope and intercept of y over x. */
export function fit(points: [number, number][]): { slope: number; intercept: number } {
  const n = points.length;
  if (n < 2) return { slope: 0, intercept: points[0]?.[1] ?? 0 };
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  const slope = den === 0 ? 0 : num / den;
  return { slope, intercept: my - slope * mx };
}

/** The warm-up, in seconds, for a workload of `durationSeconds`. */
export function warmupSeconds(durationSeconds: number): number {
  return Math.min(Math.max(120, 0.2 * durationSeconds), 0.5 * durationSeconds);
}

/** What the harness knows beyond the samples. */
export interface RunFacts {
  durationSeconds: number;
  unexpected: number;
  /** Last-resort lines ("survived") per process label. */
  survived: Record<string, number>;
  /** Processes that exited when they should be running, with their exit code. */
  exited: string[];
  /** Labels of agents restarted by the workload (their RSS is not judged across lives). */
  restarted: string[];
}

/** Judges a run. */
export function judge(samples: Sample[], facts: RunFacts): Verdict {
  const warm = warmupSeconds(facts.durationSeconds);
  const load = samples.filter((s) => s.phase === "load" && s.t >= warm);
  const before = samples.filter((s) => s.phase === "idle-before").at(-1);
  const after = samples.filter((s) => s.phase === "idle-after").at(-1);
  const checks: Check[] = [];
  checks.push({
    name: "no unexpected outcome",
    pass: facts.unexpected === 0,
    detail: `${facts.unexpected} unexpected`,
  });
  const survived = Object.entries(facts.survived).filter(([, n]) => n > 0);
  checks.push({
    name: 'no last-resort "survived" log line',
    pass: survived.length === 0,
    detail: survived.length ? survived.map(([l, n]) => `${l}: ${n}`).join(", ") : "none",
  });
  checks.push({
    name: "every process still running",
    pass: facts.exited.length === 0,
    detail: facts.exited.length ? facts.exited.join(", ") : "all running",
  });
  const labels = ["cloud", ...Object.keys(samples[0]?.agents ?? {})];
  const pick = (s: Sample, l: string) => (l === "cloud" ? s.cloud : s.agents[l]);
  for (const l of labels) {
    if (!facts.restarted.includes(l)) {
      const pts = load.map((s): [number, number] => [s.t, pick(s, l).rssKiB / 1024]);
      if (pts.length < 2) {
        checks.push({
          name: `${l} RSS flat after warm-up`,
          pass: true,
          detail: `only ${pts.length} sample(s) after the ${warm.toFixed(0)} s warm-up: not judged`,
        });
      } else {
        const f = fit(pts);
        const span = pts.at(-1)![0] - pts[0][0];
        const start = f.intercept + f.slope * pts[0][0];
        const growth = f.slope * span;
        const bound = Math.max(BOUNDS.rssGrowthFraction * start, BOUNDS.rssGrowthMiB);
        checks.push({
          name: `${l} RSS flat after warm-up`,
          pass: growth < bound,
          detail: `fitted ${start.toFixed(1)} MiB → ${(start + growth).toFixed(1)} MiB over ` +
            `${(span / 60).toFixed(1)} min (${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MiB, ` +
            `${(f.slope * 3600).toFixed(1)} MiB/h); bound < ${bound.toFixed(1)} MiB`,
        });
      }
    }
    if (before && after) {
      const b = pick(before, l).fds;
      const a = pick(after, l).fds;
      checks.push({
        name: `${l} descriptors back to baseline after load`,
        pass: a <= b + BOUNDS.fdSlack,
        detail: `${b} before load, ${a} after (bound ≤ ${b + BOUNDS.fdSlack})`,
      });
    }
  }
  const store = fit(load.map((s): [number, number] => [s.t, s.storeBytes / 1048576]));
  const db = fit(load.map((s): [number, number] => [s.t, s.dbBytes / 1048576]));
  return {
    dbMiBPerHour: db.slope * 3600,
    pass: checks.every((c) => c.pass),
    warmupSeconds: warm,
    checks,
    storeMiBPerHour: store.slope * 3600,
  };
}
