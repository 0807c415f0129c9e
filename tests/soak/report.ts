/**
 * The soak's printed report: a markdown table of the samples (one row per minute, or every
 * sample in a run shorter than three minutes), an ASCII sparkline per metric, the outcome counts
 * per operation and the verdict with its bounds.
 * @module
 */
import type { Ledger } from "./outcomes.ts";
import type { Sample } from "./sample.ts";
import { BOUNDS, type Verdict } from "./verdict.ts";

const BARS = "▁▂▃▄▅▆▇█";

/** A sparkline of `values` at most `width` characters wide (bucket means), with its range. */
export function sparkline(values: number[], width = 60): string {
  if (values.length === 0) return "";
  const buckets: number[] = [];
  const per = Math.max(1, Math.ceil(values.length / width));
  for (let i = 0; i < values.length; i += per) {
    const b = values.slice(i, i + per);
    buckets.push(b.reduce((s, v) => s + v, 0) / b.length);
  }
  const lo = Math.min(...buckets);
  const hi = Math.max(...buckets);
  const span = hi - lo || 1;
  return buckets.map((v) => BARS[Math.min(7, Math.floor(((v - lo) / span) * 8))]).join("");
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

/** The rows of the markdown table: one per minute of the load, plus the idle samples. */
function tableRows(samples: Sample[]): Sample[] {
  const load = samples.filter((s) => s.phase === "load");
  const everyMinute = (load.at(-1)?.t ?? 0) >= 180;
  let next = 0;
  return samples.filter((s) => {
    if (s.phase !== "load" || !everyMinute) return true;
    if (s.t < next) return false;
    next = Math.floor(s.t / 60) * 60 + 60;
    return true;
  });
}

/** The markdown table of samples. */
export function sampleTable(samples: Sample[]): string {
  const agents = Object.keys(samples[0]?.agents ?? {});
  const head = [
    "t (min)",
    "phase",
    "cloud RSS MiB",
    "cloud fds",
    ...agents.flatMap((a) => [`${a} RSS MiB`, `${a} fds`]),
    "store MiB (db)",
    "streams",
    "ops ok / refused / unexpected",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const s of tableRows(samples)) {
    const cells = [
      (s.t / 60).toFixed(1),
      s.phase,
      mib(s.cloud.rssKiB),
      String(s.cloud.fds),
      ...agents.flatMap((a) => [mib(s.agents[a].rssKiB), String(s.agents[a].fds)]),
      `${(s.storeBytes / 1048576).toFixed(2)} (${(s.dbBytes / 1048576).toFixed(2)})`,
      String(s.streams),
      `${s.ops.ok} / ${s.ops.refused} / ${s.ops.unexpected}`,
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

/** One sparkline per metric over the load samples, with min and max. */
export function sparklines(samples: Sample[]): string {
  const load = samples.filter((s) => s.phase === "load");
  const metrics: [string, number[]][] = [
    ["cloud RSS MiB", load.map((s) => s.cloud.rssKiB / 1024)],
    ["cloud fds", load.map((s) => s.cloud.fds)],
  ];
  for (const a of Object.keys(load[0]?.agents ?? {})) {
    metrics.push([`${a} RSS MiB`, load.map((s) => s.agents[a].rssKiB / 1024)]);
    metrics.push([`${a} fds`, load.map((s) => s.agents[a].fds)]);
  }
  metrics.push(["store MiB", load.map((s) => s.storeBytes / 1048576)]);
  metrics.push(["db file MiB", load.map((s) => s.dbBytes / 1048576)]);
  metrics.push(["streams", load.map((s) => s.streams)]);
  const w = Math.max(...metrics.map(([n]) => n.length));
  return metrics.map(([name, v]) => {
    const lo = Math.min(...v);
    const hi = Math.max(...v);
    return `${name.padEnd(w)}  ${sparkline(v)}  ${lo.toFixed(1)}–${hi.toFixed(1)}`;
  }).join("\n");
}

/** Outcome counts per operation as a markdown table. */
export function outcomeTable(ledger: Ledger): string {
  const lines = ["| operation | ok | expected refusal | unexpected |", "| --- | --- | --- | --- |"];
  for (const [op, c] of [...ledger.byOp].sort(([a], [b]) => a.localeCompare(b))) {
    lines.push(`| ${op} | ${c.ok} | ${c.refused} | ${c.unexpected} |`);
  }
  return lines.join("\n");
}

/** The verdict with its bounds, as text. */
export function verdictText(v: Verdict): string {
  const lines = [
    `Bounds: after a ${v.warmupSeconds.toFixed(0)} s warm-up, RSS growth < max(${
      BOUNDS.rssGrowthFraction * 100
    }%, ${BOUNDS.rssGrowthMiB} MiB) (least squares, processes never restarted); descriptors ` +
    `after the load ≤ before + ${BOUNDS.fdSlack}; zero unexpected outcomes; no "survived" line.`,
    ...v.checks.map((c) => `  ${c.pass ? "PASS" : "FAIL"}  ${c.name}: ${c.detail}`),
    `Store growth under load after warm-up: ${v.storeMiBPerHour.toFixed(2)} MiB/h db + WAL, ` +
    `${v.dbMiBPerHour.toFixed(2)} MiB/h the db file (reported, not judged).`,
    `VERDICT: ${v.pass ? "PASS" : "FAIL"}`,
  ];
  return lines.join("\n");
}
