/**
 * The soak's seeded random source: the same `--seed` picks the same sequence of operations and
 * payload sizes, so a failing run can be replayed (timing on a shared machine still differs).
 * @module
 */

/** A small deterministic PRNG (mulberry32) over a 32-bit seed. */
export class Rng {
  #s: number;

  /** Starts the sequence at `seed`. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** The next float in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** One of `items`, chosen with the given weights. */
  weighted<T>(items: readonly { weight: number; value: T }[]): T {
    const total = items.reduce((s, i) => s + i.weight, 0);
    let r = this.next() * total;
    for (const i of items) {
      r -= i.weight;
      if (r < 0) return i.value;
    }
    return items[items.length - 1].value;
  }
}
