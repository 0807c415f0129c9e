/**
 * One periodic sweep over every tunnel that has an idle timeout, instead of one timer per
 * tunnel: a node may hold tens of thousands of idle tunnels, and each timer of its own costs
 * memory and a wake-up of the event loop every few seconds. The sweep runs while anything is
 * watched, as often as the shortest watched timeout asks (a quarter of it, between 50 ms and
 * 5 s: a tunnel is closed at most that long after its timeout), and never keeps a process alive.
 * @module
 */

/** A tunnel the sweep watches. */
export interface IdleWatched {
  /** When a byte last moved either way (Date.now()). */
  lastActivity: number;
  /** Close after this long without a byte. */
  readonly idleMs: number;
  /** Called once when the timeout passed (the tunnel is no longer watched then). */
  onIdle(): void;
}

/** How often the sweep runs for a timeout of `idleMs`. */
export function sweepInterval(idleMs: number): number {
  return Math.max(50, Math.min(idleMs / 4, 5_000));
}

/** The watched tunnels and the one timer over them. */
export class IdleSweep {
  #watched = new Set<IdleWatched>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #every = Infinity;

  /** Watches `w` until `delete` or its timeout. */
  add(w: IdleWatched): void {
    this.#watched.add(w);
    const every = sweepInterval(w.idleMs);
    if (every < this.#every) this.#start(every);
  }

  /** Stops watching `w`. */
  delete(w: IdleWatched): void {
    if (this.#watched.delete(w) && this.#watched.size === 0) this.#stop();
  }

  /** How many tunnels are watched. */
  get size(): number {
    return this.#watched.size;
  }

  #start(every: number): void {
    clearInterval(this.#timer);
    this.#every = every;
    this.#timer = setInterval(() => this.#sweep(), every);
    Deno.unrefTimer(this.#timer);
  }

  #stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#every = Infinity;
  }

  #sweep(): void {
    const now = Date.now();
    for (const w of this.#watched) {
      if (now - w.lastActivity < w.idleMs) continue;
      this.#watched.delete(w);
      try {
        w.onIdle();
      } catch { /* one tunnel's close does not stop the sweep */ }
    }
    if (this.#watched.size === 0) this.#stop();
  }
}

/** The process's sweep (every WebSocket pump with an idle timeout uses it). */
export const idleSweep = new IdleSweep();
