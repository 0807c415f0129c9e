/**
 * A fixed-window rate limiter in memory, per node: for budgets that need not be shared (the
 * sampling of anonymous refusals' audit rows). Limits that must hold across the nodes of a
 * deployment (sign-in, claims) are `shared_rate_limit.ts`. Time from the injected clock so tests
 * need no sleeping.
 * @module
 */
import type { Clock } from "../../shared/clock.ts";

/** Counts attempts per key per window. */
export class RateLimiter {
  #hits = new Map<string, { start: number; n: number }>();
  /** `limit` attempts per `windowMs` per key. */
  constructor(readonly limit: number, readonly windowMs: number, readonly clock: Clock) {}

  /** Records an attempt; false when the key is over its limit in the current window. */
  take(key: string): boolean {
    const now = this.clock.now();
    const h = this.#hits.get(key);
    if (!h || now - h.start >= this.windowMs) {
      this.#hits.set(key, { start: now, n: 1 });
      if (this.#hits.size > 100_000) this.#sweep(now);
      return true;
    }
    h.n++;
    return h.n <= this.limit;
  }

  /** How many attempts the key has in the current window (nothing is recorded). */
  hits(key: string): number {
    const h = this.#hits.get(key);
    return !h || this.clock.now() - h.start >= this.windowMs ? 0 : h.n;
  }

  /** Whether the key has used up its limit in the current window (nothing is recorded). */
  over(key: string): boolean {
    return this.hits(key) >= this.limit;
  }

  #sweep(now: number): void {
    for (const [k, h] of this.#hits) if (now - h.start >= this.windowMs) this.#hits.delete(k);
  }
}
