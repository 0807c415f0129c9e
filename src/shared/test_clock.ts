/**
 * TEST-ONLY time travel for spawned processes. Certificate lifetimes are days long; end-to-end
 * tests cannot wait that long, and an in-process {@linkcode ManualClock} does not reach a spawned
 * `connector` process. When `NC_TEST_CLOCK_OFFSET_FILE` names a file, the role's clock is the
 * wall clock plus the number of milliseconds written in that file (re-read at most every 100 ms,
 * so a test moves time while the process runs). Unset — as in every real deployment — the role
 * uses the wall clock. The TLS stacks always use the real clock; only the connector's own
 * decisions (certificate issue dates, renewal, expiry checks, token lifetimes) follow this one.
 * @module
 */
import { type Clock, systemClock } from "./clock.ts";

/** The variable that names the offset file (tests only). */
export const TEST_CLOCK_ENV = "NC_TEST_CLOCK_OFFSET_FILE";

/**
 * The wall clock, or the test clock when {@linkcode TEST_CLOCK_ENV} is set (then `warn` is told,
 * so a production log shows it was left on).
 */
export function clockFromEnv(warn?: (message: string) => void): Clock {
  const file = Deno.env.get(TEST_CLOCK_ENV);
  if (!file) return systemClock;
  warn?.(`${TEST_CLOCK_ENV} is set: the clock is shifted by the offset in ${file} (tests only)`);
  let offset = 0;
  let readAt = -Infinity;
  return {
    now() {
      const t = Date.now();
      if (t - readAt >= 100) {
        readAt = t;
        try {
          const n = Number(Deno.readTextFileSync(file).trim());
          if (Number.isFinite(n)) offset = n;
        } catch { /* keep the last offset */ }
      }
      return t + offset;
    },
  };
}
