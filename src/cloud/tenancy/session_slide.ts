/**
 * A CLI session slides 30 days on each successful connect (never past its hard cap). Written to
 * the store on every tunnel open, the slide was a transaction on the node's one thread for each
 * connection an operator's tool made — the largest part of what the CLI's raw tunnel endpoint
 * cost per open beyond the WebSocket endpoint, and its latency tail. A node now slides a session
 * at most once a minute: within that minute the stored expiry lags by at most a minute of a
 * 30-day slide and `last_used_at` by at most a minute. A failed write is not remembered, so the
 * next connect tries again (and fails the same way as before while the store is down).
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";

/** How far a successful connect slides a CLI session's expiry. */
export const CLI_SLIDE_MS = 30 * 86_400_000;

/** A session's slide is written at most this often per node. */
export const SLIDE_EVERY_MS = 60_000;

/** When each session last slid on this node, bounded. */
export class SlideThrottle {
  #last = new Map<string, number>();
  #max: number;

  /** Creates an empty throttle remembering at most `max` sessions. */
  constructor(max = 10_000) {
    this.#max = max;
  }

  /** Whether a session last slid long enough before `now` to slide again. */
  due(hash: string, now: number): boolean {
    const at = this.#last.get(hash);
    return at === undefined || now - at >= SLIDE_EVERY_MS || now < at;
  }

  /** Records a slide written at `now`. */
  done(hash: string, now: number): void {
    if (this.#last.size >= this.#max && !this.#last.has(hash)) {
      for (const [h, at] of this.#last) if (now - at >= SLIDE_EVERY_MS) this.#last.delete(h);
      if (this.#last.size >= this.#max) this.#last.clear();
    }
    this.#last.set(hash, now);
  }
}

const throttles = new WeakMap<object, SlideThrottle>();

/** Slides a CLI session after a successful connect, unless it slid on this node within a minute. */
export async function slideOnConnect(
  d: { store: Store; clock: Clock },
  hash: string,
): Promise<void> {
  let t = throttles.get(d.store);
  if (!t) throttles.set(d.store, t = new SlideThrottle());
  const now = d.clock.now();
  if (!t.due(hash, now)) return;
  await d.store.slideCliSession(hash, CLI_SLIDE_MS);
  t.done(hash, now);
}
