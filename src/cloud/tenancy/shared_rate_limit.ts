/**
 * A fixed-window rate limiter every node of a deployment counts in (sign-in failures, claims):
 * its windows live in the store (`Store.hitRateWindow`), so a guesser behind a load balancer
 * gets the limit once, not once per node, and an account locked on one node is locked on all.
 * Keys are stored as SHA-256 digests (an email or an address never sits in the table), under
 * the limiter's name. Time is the store's clock, so tests need no sleeping.
 * @module
 */
import { createHash } from "node:crypto";
import type { Store } from "../store/store.ts";

/** Counts attempts per key per window, in the store. */
export class SharedRateLimiter {
  readonly #store: Store;
  readonly #name: string;

  /** `limit` attempts per `windowMs` per key, counted under `name` (e.g. "signin-ip"). */
  constructor(store: Store, name: string, readonly limit: number, readonly windowMs: number) {
    this.#store = store;
    this.#name = name;
  }

  #key(key: string): string {
    return `${this.#name}:${createHash("sha256").update(key).digest("hex")}`;
  }

  /**
   * Records an attempt; false when the key is over its limit in the current window. Take before
   * the work the limit guards, not after it: attempts made at once then see each other (hand
   * back, with `untake`, an attempt that turned out not to count).
   */
  async take(key: string): Promise<boolean> {
    return await this.#store.hitRateWindow(this.#key(key), this.windowMs) <= this.limit;
  }

  /** Takes back an attempt recorded by `take` that turned out not to count. */
  untake(key: string): Promise<void> {
    return this.#store.unhitRateWindow(this.#key(key), this.windowMs);
  }

  /** How many attempts the key has in the current window (nothing is recorded). */
  hits(key: string): Promise<number> {
    return this.#store.rateWindowHits(this.#key(key), this.windowMs);
  }
}
