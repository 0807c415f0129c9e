/**
 * Work per key run at most once at a time, with at most one more run queued behind it. A site's
 * allowlist push reads the whole list (20 000 pairs for a site of 10 000 cameras) and a burst of
 * device changes asks for one push each: the requests made while a run is under way all join one
 * run that starts after it — so each request is covered by a run that began after it was made
 * (it sees the change that request announced), and a burst costs two runs, not one per request.
 * @module
 */

/** Coalesced runs of `run`, keyed. */
export class CoalescedRuns<K> {
  readonly #run: (key: K) => Promise<void>;
  readonly #running = new Map<K, Promise<void>>();
  readonly #queued = new Map<K, Promise<void>>();

  /** Runs of `run(key)`, one at a time per key. */
  constructor(run: (key: K) => Promise<void>) {
    this.#run = run;
  }

  /**
   * Asks for a run of `key` that starts after this call; resolves (or rejects) with that run.
   * Joins the run already queued behind the one under way, if there is one.
   */
  request(key: K): Promise<void> {
    const queued = this.#queued.get(key);
    if (queued) return queued;
    const running = this.#running.get(key);
    if (!running) return this.#start(key);
    const next = running.catch(() => {}).then(() => {
      this.#queued.delete(key);
      return this.#start(key);
    });
    this.#queued.set(key, next);
    return next;
  }

  #start(key: K): Promise<void> {
    const run: Promise<void> = this.#run(key).finally(() => {
      if (this.#running.get(key) === run) this.#running.delete(key);
    });
    this.#running.set(key, run);
    return run;
  }
}
