/**
 * Time as an injectable dependency, so expiry (leases, locks, tokens, sessions) is tested
 * without sleeping: production code takes a {@linkcode Clock}, tests pass a {@linkcode ManualClock}.
 * @module
 */

/** A source of the current time in milliseconds since the Unix epoch. */
export interface Clock {
  /** The current time in epoch milliseconds. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; for tests. */
export class ManualClock implements Clock {
  #t: number;
  /** Starts at `start` epoch milliseconds (default 2026-01-01T00:00:00Z). */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#t = start;
  }
  /** The current (frozen) time. */
  now(): number {
    return this.#t;
  }
  /** Moves time forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.#t += ms;
  }
  /** Sets the time to `t` epoch milliseconds. */
  set(t: number): void {
    this.#t = t;
  }
}
