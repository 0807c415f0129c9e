/**
 * What the browser sent before the shell is up, waiting to be taken by type: the session waits
 * for `hello`, then `login`, then `answers`, while keystrokes typed ahead stay queued for the
 * shell. Bounded, so a client cannot grow it without limit; closing it wakes every waiter.
 * @module
 */

/** A bounded queue of typed messages with "wait for the next one of this type". */
export class Inbox<T extends { type: string }> {
  #queue: T[] = [];
  #wake: (() => void) | null = null;
  #closed = false;
  readonly #max: number;
  readonly #now: () => number;

  /** Holds at most `max` messages; deadlines are read from `now`. */
  constructor(max: number, now: () => number) {
    this.#max = max;
    this.#now = now;
  }

  /** Queues a message; false when the inbox is full (the caller ends the session). */
  push(m: T): boolean {
    if (this.#queue.length >= this.#max) return false;
    this.#queue.push(m);
    this.#wake?.();
    return true;
  }

  /** Wakes and ends every wait (the session ended). */
  close(): void {
    this.#closed = true;
    this.#wake?.();
  }

  /** Takes every queued message, oldest first. */
  drain(): T[] {
    return this.#queue.splice(0);
  }

  /** The next message of `type` (queued or arriving within `ms`), or null. */
  async next<K extends T["type"]>(type: K, ms: number): Promise<Extract<T, { type: K }> | null> {
    const deadline = this.#now() + ms;
    for (;;) {
      const i = this.#queue.findIndex((m) => m.type === type);
      if (i >= 0) return this.#queue.splice(i, 1)[0] as Extract<T, { type: K }>;
      if (this.#closed || this.#now() >= deadline) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, Math.max(0, deadline - this.#now()));
      });
      clearTimeout(timer);
      this.#wake = null;
    }
  }
}
