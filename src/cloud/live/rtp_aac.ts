/**
 * RTP for AAC as cameras send their sound (RFC 3640 `MPEG4-GENERIC`, mode AAC-hbr or AAC-lbr):
 * each packet carries an AU-headers section (one size and index per audio frame) and then the
 * frames, or one fragment of a frame too large for a packet. The live view puts the frames into
 * its fMP4 as they are (raw AAC, 1 024 samples each), so browsers play them with the picture;
 * nothing is decoded. A lost fragment drops that frame, never hands on a torn one.
 * @module
 */
import type { RtpPacket } from "./rtp_video.ts";

/** Samples in one AAC frame (AAC-LC; the 960-sample variant is not used by cameras). */
export const AAC_FRAME_SAMPLES = 1024;

/** How an RFC 3640 stream lays out its AU headers (its SDP `fmtp`). */
export interface AuLayout {
  sizeLength: number;
  indexLength: number;
  indexDeltaLength: number;
}

/** The frames of one packet, the first at `timestamp` and each next one a frame later. */
export interface AudioFrames {
  timestamp: number;
  frames: Uint8Array[];
  /** Samples in each frame ({@link AAC_FRAME_SAMPLES} for AAC). */
  frameSamples: number;
}

/** Reads `bits` bits from `b` at bit offset `at`, most significant first. */
function bitsAt(b: Uint8Array, at: number, bits: number): number {
  let v = 0;
  for (let i = 0; i < bits; i++) {
    const bit = at + i;
    v = v * 2 + ((b[bit >> 3] >> (7 - (bit & 7))) & 1);
  }
  return v;
}

/** Rebuilds AAC frames from RTP packets of one stream. */
export class AacDepacketizer {
  #layout: AuLayout;
  #onFrames: (f: AudioFrames) => void;
  #fragment:
    | { timestamp: number; size: number; parts: Uint8Array[]; have: number; seq: number }
    | null = null;

  /** `onFrames` gets each packet's whole frames. */
  constructor(layout: AuLayout, onFrames: (f: AudioFrames) => void) {
    this.#layout = layout;
    this.#onFrames = onFrames;
  }

  /** Feeds one RTP packet of the audio track. */
  push(p: RtpPacket): void {
    const b = p.payload;
    if (b.length < 2) return;
    const { sizeLength, indexLength, indexDeltaLength } = this.#layout;
    const headerBits = (b[0] << 8) | b[1];
    const headerBytes = Math.ceil(headerBits / 8);
    if (sizeLength <= 0 || 2 + headerBytes > b.length) return;
    const sizes: number[] = [];
    for (let at = 0; at + sizeLength <= headerBits;) {
      sizes.push(bitsAt(b.subarray(2), at, sizeLength));
      at += sizeLength + (sizes.length === 1 ? indexLength : indexDeltaLength);
    }
    const data = b.subarray(2 + headerBytes);
    const f = this.#fragment;
    if (f && (p.timestamp !== f.timestamp || p.sequence !== ((f.seq + 1) & 0xffff))) {
      this.#fragment = null; // a fragment went missing: drop that frame
    }
    if (sizes.length === 1 && sizes[0] > data.length) {
      // One frame in fragments: the same size in every header, the marker on the last one.
      const g = this.#fragment ??
        { timestamp: p.timestamp, size: sizes[0], parts: [], have: 0, seq: p.sequence - 1 };
      if (g.size !== sizes[0]) return void (this.#fragment = null);
      g.parts.push(data.slice());
      g.have += data.length;
      g.seq = p.sequence;
      this.#fragment = g;
      if (g.have < g.size && !p.marker) return;
      this.#fragment = null;
      if (g.have !== g.size) return;
      const whole = new Uint8Array(g.size);
      let off = 0;
      for (const part of g.parts) {
        whole.set(part, off);
        off += part.length;
      }
      return this.#onFrames({
        timestamp: g.timestamp,
        frames: [whole],
        frameSamples: AAC_FRAME_SAMPLES,
      });
    }
    const frames: Uint8Array[] = [];
    let off = 0;
    for (const size of sizes) {
      if (size === 0 || off + size > data.length) break;
      frames.push(data.slice(off, off + size));
      off += size;
    }
    if (frames.length) {
      this.#onFrames({ timestamp: p.timestamp, frames, frameSamples: AAC_FRAME_SAMPLES });
    }
  }
}
