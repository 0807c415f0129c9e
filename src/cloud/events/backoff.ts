/**
 * When a failed webhook delivery is tried again (issue 15 item 7): exponential backoff from a
 * first delay (default 10 s, `--webhook-retry`), doubling, at most an hour apart, for 24 hours
 * after the delivery was queued; then it is given up ("failed"). Pure, so the schedule is tested
 * on its own.
 * @module
 */

/** How long a delivery is retried after it was queued. */
export const RETRY_FOR_MS = 24 * 3_600_000;
/** The longest wait between two attempts. */
export const MAX_RETRY_DELAY_MS = 3_600_000;

/** The wait after the `n`-th failed attempt (n ≥ 1): first · 2^(n−1), at most an hour. */
export function retryDelay(firstMs: number, n: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, firstMs * 2 ** Math.min(Math.max(0, n - 1), 30));
}

/** When to try again after the `n`-th failure at `now`, or null: give up (past 24 h). */
export function nextAttemptAt(
  firstMs: number,
  n: number,
  createdAt: number,
  now: number,
): number | null {
  const at = now + retryDelay(firstMs, n);
  return at > createdAt + RETRY_FOR_MS ? null : at;
}
