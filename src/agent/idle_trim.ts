/**
 * Gives memory back when the agent goes quiet. V8 collects only when JavaScript allocates, so a
 * site agent that has just started (module loading, TLS handshakes, the first control messages)
 * or has just finished a burst of tunnels keeps that garbage, and the young generation it grew
 * for it, for as long as it stays idle — which for most agents is most of the day. Measured on
 * an idle `connector agent run` (enrolled, control stream and one data connection up): 96–99
 * MiB RSS before one full collection, 80–83 after (heap reserved 31 → 18 MiB, of which 13–14
 * MiB live); see README "Performance".
 *
 * So: after every change (a tunnel opened or moved bytes, the control link came or went), once
 * nothing has happened for a quiet period and no tunnel is open, run one full collection. An
 * agent that stays busy is never collected by this; an idle one once per quiet spell. Once the
 * spell has lasted longer (30 s), the executable's pages it touched go back too (page_out.ts).
 * @module
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { Stats } from "./stats.ts";
import type { Logger } from "../shared/log.ts";
import { chunkPool } from "../shared/transport/buffer_pool.ts";
import { type PagedOut, pageOutExecutable } from "./page_out.ts";

const mib = (n: number) => Math.round(n / 104857.6) / 10;

/** Quiet time (no tunnel, no byte, no link change) before the collection. */
export const IDLE_TRIM_QUIET_MS = 5_000;
/** Quiet time before the executable's pages are given back (page_out.ts). */
export const IDLE_PAGE_OUT_QUIET_MS = 30_000;

/** A running idle trimmer. */
export interface IdleTrim {
  /** Counts as activity: the next collection waits for a new quiet period (e.g. a link change). */
  bump(): void;
  /** Full collections run so far. */
  readonly collections: number;
  /** Page-outs run so far. */
  readonly pageOuts: number;
  /** Stops the timer. */
  stop(): void;
}

/**
 * V8's full collection as a function: the global `gc` when the process runs with
 * `--v8-flags=--expose-gc`, else the same function from a context made after exposing it at run
 * time (Deno's `node:v8` and `node:vm`); null when neither works (the trimmer then does nothing).
 */
export function fullCollector(): (() => void) | null {
  const g = (globalThis as { gc?: unknown }).gc;
  if (typeof g === "function") return g as () => void;
  try {
    setFlagsFromString("--expose-gc");
    const f = runInNewContext("gc");
    return typeof f === "function" ? f as () => void : null;
  } catch {
    return null;
  }
}

/**
 * Starts watching `stats`: every `quietMs` it compares the counters with the last look, and
 * when nothing moved, no tunnel is open and nothing was collected since the last activity, it
 * runs `collect` once (logged at debug level with the heap before and after); once that quiet
 * has lasted `pageOutQuietMs`, it runs `pageOut` once (page_out.ts). The timer never keeps the
 * process alive.
 */
export function startIdleTrim(opts: {
  stats: Stats;
  quietMs?: number;
  collect?: (() => void) | null;
  /** Gives the executable's pages back (default page_out.ts; null: never). */
  pageOut?: (() => PagedOut | string) | null;
  pageOutQuietMs?: number;
  log?: Logger;
}): IdleTrim {
  const pageOut = opts.pageOut === undefined ? pageOutExecutable : opts.pageOut;
  const pageOutQuietMs = opts.pageOutQuietMs ?? IDLE_PAGE_OUT_QUIET_MS;
  let quietSince = Date.now();
  let pagedOut = false;
  let pageOuts = 0;
  const collect = opts.collect === undefined ? fullCollector() : opts.collect;
  const s = opts.stats;
  const sample = () => `${s.activeStreams}/${s.tunnelsOpened}/${s.bytesUp}/${s.bytesDown}`;
  let last = "";
  let trimmed = false;
  let collections = 0;
  const timer = setInterval(() => {
    const now = sample();
    if (now !== last || s.activeStreams > 0) {
      last = now;
      trimmed = false;
      pagedOut = false;
      quietSince = Date.now();
      return;
    }
    if (
      (trimmed || !collect) && !pagedOut && pageOut && Date.now() - quietSince >= pageOutQuietMs
    ) {
      pagedOut = true;
      let r: PagedOut | string;
      try {
        r = pageOut();
      } catch (e) {
        r = (e as Error).message; // never the agent's end: a page-out is only an advice
      }
      if (typeof r === "string") opts.log?.debug({ reason: r }, "idle: executable pages kept");
      else {
        pageOuts++;
        opts.log?.debug(
          {
            mappings: r.mappings,
            fileMiB: mib(r.fileKiBBefore * 1024),
            afterMiB: mib(r.fileKiBAfter * 1024),
          },
          "idle: executable pages given back",
        );
      }
      return;
    }
    if (trimmed || !collect) return;
    trimmed = true;
    const before = Deno.memoryUsage().heapUsed;
    // Free relay buffers kept for reuse go too: an idle agent keeps none.
    chunkPool.clear();
    collect();
    collections++;
    opts.log?.debug(
      { heapMiB: mib(before), afterMiB: mib(Deno.memoryUsage().heapUsed) },
      "idle: memory trimmed",
    );
  }, opts.quietMs ?? IDLE_TRIM_QUIET_MS);
  Deno.unrefTimer(timer);
  return {
    bump() {
      last = "";
      trimmed = false;
      pagedOut = false;
    },
    get collections() {
      return collections;
    },
    get pageOuts() {
      return pageOuts;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
