/**
 * A recording played faster than it happened (2×, 4×… on the live view's replay): the camera is
 * asked to send as fast as it can (ONVIF `Rate-Control: no`) and the cloud paces what it reads to
 * `speed` times the recording's own time, so every camera that can send fast plays at any speed
 * with every picture, and the browser (its `playbackRate` set to the speed) is never flooded. The
 * pictures delivered may run {@link PACE_LEAD_MS} ahead of their due time (what the browser has
 * buffered); past that, reading waits.
 * @module
 */
import { TIMESCALE } from "./fmp4.ts";

/** How far ahead of its due time (ms of wall clock) a paced session may deliver. */
export const PACE_LEAD_MS = 300;

/** The speeds a recording may be played at (1: as it happened). */
export const SPEEDS = [1, 2, 4, 8, 16] as const;

/** Paces a session's pictures to `speed` times their own time. */
export class Pace {
  readonly speed: number;
  #now: () => number;
  #leadMs: number;
  #first: { decode: number; at: number } | null = null;
  #last = 0;

  /** `now` is a monotonic clock in ms; `leadMs` overrides {@link PACE_LEAD_MS} (tests). */
  constructor(speed: number, now: () => number = () => performance.now(), leadMs = PACE_LEAD_MS) {
    this.speed = speed;
    this.#now = now;
    this.#leadMs = leadMs;
  }

  /** A picture of `decodeTime` ({@link TIMESCALE} units) was delivered. */
  seen(decodeTime: number): void {
    this.#first ??= { decode: decodeTime, at: this.#now() };
    this.#last = decodeTime;
  }

  /** How long (ms) to wait before reading more: 0 when what was delivered is not ahead. */
  ahead(): number {
    if (!this.#first) return 0;
    const due = this.#first.at +
      (this.#last - this.#first.decode) / TIMESCALE * 1000 / this.speed;
    return Math.max(0, Math.ceil(due - this.#now() - this.#leadMs));
  }
}
