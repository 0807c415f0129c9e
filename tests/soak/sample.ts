/**
 * One soak sample: for the cloud and each agent, VmRSS and open descriptors from /proc; the
 * store's size on disk; live streams as the agents report them (`GET /api/agents`, summed over
 * the tenants) and the tunnels/sessions the harness holds; the outcome totals so far.
 * @module
 */
import type { Counts, Ledger } from "./outcomes.ts";
import { openFds, rssKiB, storeBytes } from "./procfs.ts";
import { api, type World } from "./world.ts";

/** Memory and descriptors of one process at one time. */
export interface ProcSample {
  pid: number;
  rssKiB: number;
  fds: number;
}

/** When a sample was taken: before the workload, under it, or after it stopped and settled. */
export type Phase = "idle-before" | "load" | "idle-after";

/** One row of the soak's record. */
export interface Sample {
  /** Seconds since the workload started (negative before it). */
  t: number;
  phase: Phase;
  cloud: ProcSample;
  agents: Record<string, ProcSample>;
  /** The store on disk: database plus write-ahead log. */
  storeBytes: number;
  /** The database file alone (the WAL is checkpointed into it and reused). */
  dbBytes: number;
  /** Active streams the agents report (summed over tenants). */
  streams: number;
  /** Tunnels, RTSP and CLI sessions the harness holds open. */
  harnessLive: number;
  ops: Counts;
  /** The machine's 1-minute load average (it is shared with other work). */
  load1: number;
}

function proc(pid: number | undefined): ProcSample {
  const p = pid ?? 0;
  return { pid: p, rssKiB: rssKiB(p), fds: openFds(p) };
}

async function agentStreams(w: World): Promise<number> {
  let sum = 0;
  for (const t of w.tenants) {
    const r = await api(w.stack, t.q.apiToken, "GET", "/api/agents").catch(() => null);
    const items = (r?.body.items ?? []) as { activeStreams?: number }[];
    for (const a of items) sum += a.activeStreams ?? 0;
  }
  return sum;
}

/** Takes one sample now. */
export async function takeSample(
  w: World,
  ledger: Ledger,
  live: { n: number },
  start: number,
  phase: Phase,
): Promise<Sample> {
  const streams = await agentStreams(w);
  const store = storeBytes(w.stack.dataDir);
  return {
    t: Math.round((Date.now() - start) / 100) / 10,
    phase,
    cloud: proc(w.stack.cloud.child.pid),
    agents: Object.fromEntries(w.tenants.map((t) => [t.name, proc(t.agent.child.pid)])),
    storeBytes: store.db + store.wal,
    dbBytes: store.db,
    streams,
    harnessLive: live.n,
    ops: ledger.totals(),
    load1: Math.round(Deno.loadavg()[0] * 100) / 100,
  };
}

/** The one progress line printed per sample. */
export function progressLine(s: Sample): string {
  const mib = (k: number) => (k / 1024).toFixed(1);
  const agents = Object.entries(s.agents)
    .map(([n, a]) => `${n} ${mib(a.rssKiB)}MiB/${a.fds}fd`)
    .join("  ");
  return `[${s.t.toFixed(0).padStart(5)}s ${s.phase.padEnd(11)}] cloud ${mib(s.cloud.rssKiB)}MiB/` +
    `${s.cloud.fds}fd  ${agents}  store ${(s.storeBytes / 1048576).toFixed(2)}MiB  ` +
    `streams ${s.streams} (held ${s.harnessLive})  ops ok=${s.ops.ok} refused=${s.ops.refused} ` +
    `unexpected=${s.ops.unexpected}  load ${s.load1.toFixed(2)}`;
}
