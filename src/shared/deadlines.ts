/**
 * Coarse timeouts for hot paths. A `setTimeout` and `clearTimeout` per request (the wait for a
 * kept-alive connection's next request, a device's answer, a pooled connection's idle time) cost
 * the browser proxy about 14 % of its CPU under load (measured in README "Performance"). Timeouts
 * of one fixed length expire in the order they were started, so one interval timer per length
 * walks the oldest first and stops at the first not yet due: starting and cancelling are a Set
 * insert and delete, and no timer runs while none is pending. The clock is the wall clock (a
 * call into V8, where `performance.now()` is one into the runtime): a step of that clock moves
 * the timeouts pending across it by at most the step. The timer runs while any timeout is
 * pending, and stops at its first tick with none.
 * @module
 */

interface Entry {
  at: number;
  fire: () => void;
}

/** Timeouts of one length; each fires at most `resolution` late. */
export class Deadlines {
  readonly ms: number;
  readonly resolutionMs: number;
  #entries = new Set<Entry>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #now: () => number;

  /** Timeouts of `ms`, checked every `resolutionMs` (default: a twentieth, 10–250 ms). */
  constructor(ms: number, opts: { resolutionMs?: number; now?: () => number } = {}) {
    this.ms = ms;
    this.resolutionMs = opts.resolutionMs ?? Math.max(10, Math.min(250, Math.floor(ms / 20)));
    // Date.now() is V8's own; performance.now() is a call into the runtime each time.
    this.#now = opts.now ?? Date.now;
  }

  /** Timeouts pending. */
  get size(): number {
    return this.#entries.size;
  }

  /** Calls `fire` once `ms` have passed, unless the returned function is called first. */
  start(fire: () => void): () => void {
    const e: Entry = { at: this.#now() + this.ms, fire };
    this.#entries.add(e);
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.sweep(), this.resolutionMs);
      // What a timeout guards keeps the process alive, if anything does; never the timer itself.
      Deno.unrefTimer(this.#timer as unknown as number);
    }
    // A cancel leaves the timer to its next tick, which stops it when nothing is pending: under
    // load the set empties and fills again between requests, and a timer started and stopped per
    // request cost more than the sweeps it saves.
    return () => {
      this.#entries.delete(e);
    };
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Fires every timeout now due, oldest first (the timer calls this; tests may too). */
  sweep(): void {
    const now = this.#now();
    const due: Entry[] = [];
    for (const e of this.#entries) {
      if (e.at > now) break;
      this.#entries.delete(e);
      due.push(e);
    }
    if (this.#entries.size === 0) this.#stop();
    for (const e of due) {
      try {
        e.fire();
      } catch { /* one timeout's fault is its own */ }
    }
  }
}

const shared = new Map<number, Deadlines>();

/** The shared `Deadlines` of one length (for lengths a process uses over and over). */
export function deadlinesOf(ms: number): Deadlines {
  let d = shared.get(ms);
  if (!d) {
    d = new Deadlines(ms);
    shared.set(ms, d);
  }
  return d;
}
