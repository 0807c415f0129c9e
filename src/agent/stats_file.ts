/**
 * `stats.json` in the agent's state directory (guide §9): today's counters written atomically
 * (temp file + rename, mode 0600) every flush interval (30 s by default) and on a clean stop,
 * and read back at start, so a service restart does not reset "today's bytes". A missing,
 * torn or foreign file is ignored (the counters start at 0) — stats never stop the agent.
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { writeSecretFile } from "../shared/crypto/files.ts";
import type { Logger } from "../shared/log.ts";
import type { Stats } from "./stats.ts";

/** File name of the counters inside the state directory. */
export const STATS_FILE = "stats.json";

const fileSchema = z.object({
  day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  bytesUp: z.number().int().nonnegative(),
  bytesDown: z.number().int().nonnegative(),
  tunnelsOpened: z.number().int().nonnegative(),
});

/** Loads `stats.json` into `stats` when it holds today's totals. Never throws. */
export async function loadStats(dir: string, stats: Stats, log?: Logger): Promise<void> {
  let raw: string;
  try {
    raw = await Deno.readTextFile(join(dir, STATS_FILE));
  } catch {
    return;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = null;
  }
  const r = fileSchema.safeParse(parsed);
  if (!r.success) {
    log?.warn({ file: join(dir, STATS_FILE) }, "ignored an unreadable stats file");
    return;
  }
  stats.restore(r.data);
}

/** Writes today's totals atomically (0600). */
export async function saveStats(dir: string, stats: Stats): Promise<void> {
  const s = stats.snapshot();
  const body = {
    day: s.day,
    bytesUp: s.bytesUp,
    bytesDown: s.bytesDown,
    tunnelsOpened: s.tunnelsOpened,
  };
  await writeSecretFile(join(dir, STATS_FILE), JSON.stringify(body) + "\n");
}

/** A running periodic flusher. */
export interface StatsFlusher {
  /** Stops the timer and writes one last time. */
  stop(): Promise<void>;
}

/** Flushes every `intervalMs`; failures are logged once per distinct message. */
export function startStatsFlusher(
  o: { dir: string; stats: Stats; intervalMs: number; log: Logger },
): StatsFlusher {
  let lastError = "";
  let running: Promise<void> = Promise.resolve();
  const flush = () =>
    running = running.then(() => saveStats(o.dir, o.stats)).then(() => {
      lastError = "";
    }, (e) => {
      const msg = (e as Error).message;
      if (msg !== lastError) o.log.warn({ err: msg }, "cannot write stats.json");
      lastError = msg;
    });
  const timer = setInterval(flush, o.intervalMs);
  return {
    async stop() {
      clearInterval(timer);
      await flush();
    },
  };
}
