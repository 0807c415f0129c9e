/**
 * How many of a node's motion watchers subscribe at the same time. A node that starts, takes over
 * a dead sibling's shards, or sees a site with hundreds of cameras come back online would
 * otherwise start every one of those subscriptions in the same tick: hundreds of tunnels opened
 * through one agent at once, each a clock, a capabilities and a pull-point request to a small
 * embedded camera, all within the same 25 s deadline — and every one that missed it failing and
 * trying again together. Here a watcher takes a slot before it subscribes and gives it back once
 * subscribed (or failed); the next in line takes it. Waiting is not subscribing: the deadline
 * starts with the slot. A subscription's pulls afterwards take no slot.
 *
 * Two lines, served in order: first the watchers that have not failed since they last
 * subscribed (a camera switched on, a node's start), then those trying again after a failure,
 * oldest first in each. Cameras that are off line fail slowly (a dial or the deadline) and try
 * again every few minutes; in one line with the others, hundreds of them would keep the slots
 * busy and a camera just switched on would wait behind them.
 * @module
 */

/** Cameras a node subscribes to at once, by default (`--motion-subscribe-concurrency`). */
export const SUBSCRIBE_CONCURRENCY = 16;

/** One waiting caller. */
interface Waiter {
  grant(): void;
}

/** A counting gate with two lines (see the module), whose waits end when their signal aborts. */
export class SubscribeSlots {
  readonly #max: number;
  #taken = 0;
  readonly #first: Waiter[] = [];
  readonly #retrying: Waiter[] = [];

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
    return this.#first.length + this.#retrying.length;
  }

  /**
   * Waits for a slot — behind every waiter that is not `retrying` when it is — and resolves to
   * the function that gives it back (once; a second call does nothing), or to null when `signal`
   * aborts first (then no slot is held).
   */
  take(signal: AbortSignal, retrying = false): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null);
    if (this.#taken < this.#max && this.waiting === 0) {
      this.#taken++;
      return Promise.resolve(this.#giver());
    }
    const line = retrying ? this.#retrying : this.#first;
    return new Promise((resolve) => {
      const entry: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", leave);
          resolve(this.#giver());
        },
      };
      const leave = () => {
        const i = line.indexOf(entry);
        if (i >= 0) line.splice(i, 1);
        resolve(null);
      };
      signal.addEventListener("abort", leave, { once: true });
      line.push(entry);
    });
  }

  /** A slot just taken (counted): its one-time release. */
  #giver(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = this.#first.shift() ?? this.#retrying.shift();
      // Handed straight to the next in line: the count stays.
      if (next) next.grant();
      else this.#taken--;
    };
  }
}
