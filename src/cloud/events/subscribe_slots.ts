/**
 * How many of a node's motion watchers subscribe at the same time. A node that starts, takes over
 * a dead sibling's shards, or sees a site with hundreds of cameras come back online would
 * otherwise start every one of those subscriptions in the same tick: hundreds of tunnels opened
 * through one agent at once, each a clock, a capabilities and a pull-point request to a small
 * embedded camera, all within the same 25 s deadline — and every one that missed it failing and
 * trying again together. Here a watcher takes a slot before it subscribes and gives it back once
 * subscribed (or failed); the next in line, oldest first, takes it. Waiting is not subscribing:
 * the deadline starts with the slot. A subscription's pulls afterwards take no slot.
 * @module
 */

/** Cameras a node subscribes to at once, by default (`--motion-subscribe-concurrency`). */
export const SUBSCRIBE_CONCURRENCY = 16;

/** A counting gate, first come first served, whose waits end when their signal aborts. */
export class SubscribeSlots {
  readonly #max: number;
  #taken = 0;
  readonly #queue: { grant: () => void }[] = [];

  /** At most `max` (≥ 1) holders at once. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`slots: ${max}`);
    this.#max = max;
  }

  /** Slots held now. */
  get taken(): number {
    return this.#taken;
  }

  /** Callers waiting for a slot now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * Waits for a slot; resolves to the function that gives it back (once; a second call does
   * nothing), or to null when `signal` aborts first (then no slot is held).
   */
  take(signal: AbortSignal): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null);
    if (this.#taken < this.#max && this.#queue.length === 0) {
      this.#taken++;
      return Promise.resolve(this.#giver());
    }
    return new Promise((resolve) => {
      const entry = {
        grant: () => {
          signal.removeEventListener("abort", leave);
          resolve(this.#giver());
        },
      };
      const leave = () => {
        const i = this.#queue.indexOf(entry);
        if (i >= 0) this.#queue.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener("abort", leave, { once: true });
      this.#queue.push(entry);
    });
  }

  /** A slot just taken (counted): its one-time release. */
  #giver(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.#queue.shift();
      // Handed straight to the next in line: the count stays.
      if (next) next.grant();
      else this.#taken--;
    };
  }
}
