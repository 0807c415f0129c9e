/**
 * Reconnect delays: jittered exponential backoff capped at 15 s, so a fleet of agents does not
 * reconnect in lockstep after a cloud restart and none waits longer than the cap.
 * @module
 */

/** Backoff settings. */
export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  random?: () => number;
}

/** A backoff sequence; `next()` gives the delay before the next attempt. */
export class Backoff {
  #attempt = 0;
  #base: number;
  #cap: number;
  #random: () => number;
  /** Creates a sequence (defaults: 500 ms base, 15 s cap). */
  constructor(o: BackoffOptions = {}) {
    this.#base = o.baseMs ?? 500;
    this.#cap = o.capMs ?? 15_000;
    this.#random = o.random ?? Math.random;
  }
  /** The next delay: min(cap, base·2^n) scaled by a random factor in [0.5, 1]. */
  next(): number {
    const ceiling = Math.min(this.#cap, this.#base * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    return Math.round(ceiling * (0.5 + this.#random() * 0.5));
  }
  /** Starts over after a connection that worked. */
  reset(): void {
    this.#attempt = 0;
  }
}
