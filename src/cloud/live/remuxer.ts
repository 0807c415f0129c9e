/**
 * From access units to fMP4 segments for one camera: waits for the SPS and PPS (from the SDP or
 * in-band) to build the init segment, unwraps the 32-bit RTP timestamp into a decode time from
 * the stream's start, and emits each picture once the next one tells its duration (one frame of
 * delay, exact timing; nothing is re-encoded). A change of SPS mid-stream is not followed (the
 * first one wins: stated in README).
 * @module
 */
import { initSegment, mediaSegment } from "./fmp4.ts";
import { type AccessUnit, NAL, nalType } from "./rtp_h264.ts";

/** The init segment and what the page asks MSE about. */
export interface Init {
  bytes: Uint8Array;
  codec: string;
  width: number;
  height: number;
}

/** One media segment (one picture). */
export interface Segment {
  bytes: Uint8Array;
  keyframe: boolean;
  /** Its decode time (TIMESCALE units from the stream's start). */
  decodeTime: number;
  /** When its access unit reached this node (the caller's clock, ms), when given. */
  arrivedMs?: number;
}

/** A fallback duration (90 kHz ticks) when two pictures share a timestamp: 1/30 s. */
const FALLBACK_DURATION = 3000;

/** Turns access units into an init segment and media segments. */
export class Remuxer {
  #sps: Uint8Array | null = null;
  #pps: Uint8Array | null = null;
  #init: Init | null = null;
  #pending: { au: AccessUnit; time: number; arrivedMs?: number } | null = null;
  #last: number | null = null;
  #time = 0;
  #seq = 0;
  #onInit: (i: Init) => void;
  #onSegment: (s: Segment) => void;

  /** Callbacks receive the init segment once, then every media segment. */
  constructor(onInit: (i: Init) => void, onSegment: (s: Segment) => void) {
    this.#onInit = onInit;
    this.#onSegment = onSegment;
  }

  /** The init segment, once known. */
  get init(): Init | null {
    return this.#init;
  }

  /** Parameter sets announced out of band (SDP `sprop-parameter-sets`). */
  parameterSets(sps: Uint8Array | null, pps: Uint8Array | null): void {
    this.#sps ??= sps;
    this.#pps ??= pps;
  }

  /** Feeds one access unit (`arrivedMs`: when it reached this node, for latency figures). */
  push(au: AccessUnit, arrivedMs?: number): void {
    for (const n of au.nals) {
      if (nalType(n) === NAL.SPS) this.#sps ??= n;
      if (nalType(n) === NAL.PPS) this.#pps ??= n;
    }
    if (!this.#init) {
      if (!this.#sps || !this.#pps || !au.keyframe) return; // start at a keyframe
      this.#init = initSegment(this.#sps, this.#pps);
      this.#onInit(this.#init);
    }
    if (this.#last !== null) this.#time += (au.timestamp - this.#last) >>> 0;
    this.#last = au.timestamp;
    const p = this.#pending;
    if (p) {
      const d = this.#time - p.time;
      const duration = d > 0 && d < 10 * 90_000 ? d : FALLBACK_DURATION;
      this.#onSegment({
        bytes: mediaSegment(++this.#seq, p.time, duration, p.au.nals, p.au.keyframe),
        keyframe: p.au.keyframe,
        decodeTime: p.time,
        arrivedMs: p.arrivedMs,
      });
    }
    this.#pending = { au, time: this.#time, arrivedMs };
  }
}
