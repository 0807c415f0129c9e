/**
 * From access units to fMP4 segments for one camera: waits for the parameter sets (H.264's SPS and
 * PPS, H.265's VPS too; from the SDP or in-band) to build the init segment, unwraps the 32-bit RTP
 * timestamp into a decode time from the stream's start, and emits each picture once the next one
 * tells its duration (one frame of delay, exact timing; nothing is re-encoded). A change of SPS
 * mid-stream is not followed (the first one wins: stated in README). A camera's sound (AAC, or FLAC
 * from G.711) goes into a second track, each packet's frames a segment, timed against the picture
 * by the RTP times PLAY's `RTP-Info` gives for one instant of both (without them, the first sound
 * heard is taken as the picture's present); sound from before the first picture's instant is left
 * out, and sound that arrives before the first picture is kept until it comes when RTP-Info times
 * it.
 * @module
 */
import {
  type AudioConfig,
  audioSegment,
  hevcInitSegment,
  initSegment,
  mediaSegment,
  TIMESCALE,
} from "./fmp4.ts";
import { H264, type NalFormat, type ParameterSetKind } from "./nal_format.ts";
import type { AudioFrames } from "./rtp_aac.ts";
import type { AccessUnit } from "./rtp_video.ts";

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
  /** A segment of sound (its decode time is still in TIMESCALE units). */
  audio?: boolean;
}

/** A fallback duration (90 kHz ticks) when two pictures share a timestamp: 1/30 s. */
const FALLBACK_DURATION = 3000;

/** Most bytes of sound kept while the first picture is awaited (minutes of AAC at 16 kHz). */
export const EARLY_SOUND_BYTES = 4 << 20;

/** Turns access units into an init segment and media segments. */
export class Remuxer {
  #format: NalFormat;
  /** The first parameter set of each kind (the first wins). */
  #sets = new Map<ParameterSetKind, Uint8Array>();
  #init: Init | null = null;
  #pending: { au: AccessUnit; time: number; arrivedMs?: number } | null = null;
  #last: number | null = null;
  #time = 0;
  #seq = 0;
  #audio: AudioConfig | null = null;
  /** The RTP times of the picture and of the sound at one instant (PLAY's RTP-Info). */
  #sync: { video: number; audio: number } | null = null;
  /** The first picture's RTP time (decode time 0). */
  #videoBase: number | null = null;
  /** The next sound frame's decode time (sample rate) and RTP time, once sound is placed. */
  #audioNext: { time: number; rtp: number } | null = null;
  /**
   * Sound that came before the first picture, kept when RTP-Info times it against the picture:
   * a recording's sound may come far ahead of its pictures (GStreamer sends ten minutes of it in
   * the first seconds), and what arrived first is not what plays first. Placed (or, from before
   * the picture's instant, left out) once the first picture is. Bounded by EARLY_SOUND_BYTES.
   */
  #early: AudioFrames[] = [];
  #earlyBytes = 0;
  #onInit: (i: Init) => void;
  #onSegment: (s: Segment) => void;

  /**
   * Callbacks receive the init segment once, then every media segment of a stream in `format`
   * (H.264 unless told).
   */
  constructor(
    onInit: (i: Init) => void,
    onSegment: (s: Segment) => void,
    format: NalFormat = H264,
  ) {
    this.#onInit = onInit;
    this.#onSegment = onSegment;
    this.#format = format;
  }

  /** The init segment, once known. */
  get init(): Init | null {
    return this.#init;
  }

  /**
   * Parameter sets announced out of band (SDP `sprop-parameter-sets`; H.265's `sprop-vps`,
   * `sprop-sps`, `sprop-pps`); each NAL unit that is not one of the format's sets is ignored.
   */
  parameterSets(...nals: (Uint8Array | null)[]): void {
    for (const n of nals) if (n) this.#keep(n);
  }

  /** Keeps `nal` when it is the first parameter set of its kind. */
  #keep(nal: Uint8Array): void {
    if (nal.length < this.#format.headerBytes + 1) return;
    const kind = this.#format.parameterSet(this.#format.type(nal));
    if (kind && !this.#sets.has(kind)) this.#sets.set(kind, nal);
  }

  /** The init segment, once the format's parameter sets are known (null before). */
  #initSegment(): Init | null {
    const [vps, sps, pps] = (["vps", "sps", "pps"] as const).map((k) => this.#sets.get(k));
    if (!sps || !pps) return null;
    if (this.#format.codec === "h264") return initSegment(sps, pps, this.#audio);
    return vps ? hevcInitSegment(vps, sps, pps, this.#audio) : null;
  }

  /** The camera's sound, to play beside the picture (before the first access unit). */
  audioTrack(a: AudioConfig | null): void {
    if (!this.#init) this.#audio = a;
  }

  /** The RTP times of the picture and of the sound at the same instant (PLAY's RTP-Info). */
  sync(video: number, audio: number): void {
    this.#sync ??= { video, audio };
  }

  /**
   * Feeds one packet's sound frames; left out when from before the first picture's instant.
   * Before the first picture, sound is kept to be placed then when RTP-Info times it (else
   * nothing tells where it belongs, and it is dropped).
   */
  pushAudio(f: AudioFrames): void {
    const a = this.#audio;
    if (!a || !f.frames.length) return;
    if (this.#videoBase === null) {
      const bytes = f.frames.reduce((n, x) => n + x.byteLength, 0);
      if (this.#sync && this.#earlyBytes + bytes <= EARLY_SOUND_BYTES) {
        this.#early.push(f);
        this.#earlyBytes += bytes;
      }
      return;
    }
    let time: number;
    if (this.#audioNext) {
      // Signed: a camera that steps back a little does not make the track jump by 2^32.
      time = this.#audioNext.time + ((f.timestamp - this.#audioNext.rtp) | 0);
    } else if (this.#sync) {
      const videoAt = ((this.#videoBase - this.#sync.video) | 0) / TIMESCALE;
      time = ((f.timestamp - this.#sync.audio) | 0) - Math.round(videoAt * a.rate);
    } else {
      time = Math.round((this.#time / TIMESCALE) * a.rate);
    }
    let frames = f.frames;
    if (time < 0) {
      const skip = Math.ceil(-time / f.frameSamples);
      frames = frames.slice(skip);
      time += skip * f.frameSamples;
      if (!frames.length) return;
    }
    const start = time;
    // The next packet's frames follow this one's (counted from its RTP time, dropped ones too).
    this.#audioNext = {
      time: start + frames.length * f.frameSamples,
      rtp: (f.timestamp + f.frames.length * f.frameSamples) >>> 0,
    };
    this.#onSegment({
      bytes: audioSegment(++this.#seq, start, frames, f.frameSamples),
      keyframe: false,
      decodeTime: Math.round((start / a.rate) * TIMESCALE),
      audio: true,
    });
  }

  /** Feeds one access unit (`arrivedMs`: when it reached this node, for latency figures). */
  push(au: AccessUnit, arrivedMs?: number): void {
    for (const n of au.nals) this.#keep(n);
    if (!this.#init) {
      if (!au.keyframe) return; // start at a keyframe
      const init = this.#initSegment();
      if (!init) return;
      this.#init = init;
      this.#videoBase = au.timestamp;
      this.#onInit(this.#init);
      const early = this.#early;
      this.#early = [];
      this.#earlyBytes = 0;
      for (const f of early) this.pushAudio(f);
    }
    if (this.#last !== null) this.#time += (au.timestamp - this.#last) >>> 0;
    this.#last = au.timestamp;
    const p = this.#pending;
    if (p) {
      const d = this.#time - p.time;
      const duration = d > 0 && d < 10 * 90_000 ? d : FALLBACK_DURATION;
      this.#onSegment({
        bytes: mediaSegment(
          ++this.#seq,
          p.time,
          duration,
          p.au.nals,
          p.au.keyframe,
          this.#format,
        ),
        keyframe: p.au.keyframe,
        decodeTime: p.time,
        arrivedMs: p.arrivedMs,
      });
    }
    this.#pending = { au, time: this.#time, arrivedMs };
  }
}
