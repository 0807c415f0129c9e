/**
 * RTP for H.264 and H.265 (RFC 3550 header; RFC 6184 and RFC 7798 payloads) as a camera sends it
 * over RTSP interleaved TCP: parse the fixed header, then rebuild NAL units from single-NAL
 * packets, aggregation packets (STAP-A; AP) and fragments (FU-A; FU), and group them into access
 * units (one per RTP timestamp, ended by the marker bit or a new timestamp). A lost or
 * out-of-order fragment drops that NAL unit rather than handing a corrupt one on; the next
 * keyframe repairs the picture. The two codecs differ only in what `nal_format.ts` describes. No
 * decoding happens here.
 * @module
 */
import type { NalFormat } from "./nal_format.ts";

/** One parsed RTP packet (the payload is a view into the input). */
export interface RtpPacket {
  payloadType: number;
  marker: boolean;
  sequence: number;
  timestamp: number;
  ssrc: number;
  payload: Uint8Array;
}

/** Parses an RTP packet; null when it is not one (too short, wrong version, bad padding). */
export function parseRtp(b: Uint8Array): RtpPacket | null {
  if (b.length < 12 || b[0] >> 6 !== 2) return null;
  const cc = b[0] & 0x0f;
  let off = 12 + cc * 4;
  if (b[0] & 0x10) {
    if (b.length < off + 4) return null;
    off += 4 + ((b[off + 2] << 8) | b[off + 3]) * 4;
  }
  let end = b.length;
  if (b[0] & 0x20) end -= b[b.length - 1];
  if (off > end) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    payloadType: b[1] & 0x7f,
    marker: (b[1] & 0x80) !== 0,
    sequence: dv.getUint16(2),
    timestamp: dv.getUint32(4),
    ssrc: dv.getUint32(8),
    payload: b.subarray(off, end),
  };
}

/** One access unit (a picture): its NAL units, RTP timestamp and whether it is a keyframe. */
export interface AccessUnit {
  timestamp: number;
  nals: Uint8Array[];
  keyframe: boolean;
}

/**
 * Rebuilds access units from RTP packets of one video stream. Neither codec's stream here uses
 * decoding order numbers (H.265's `sprop-max-don-diff` above 0, which cameras do not send).
 */
export class NalDepacketizer {
  #f: NalFormat;
  #nals: Uint8Array[] = [];
  #timestamp: number | null = null;
  #fu: Uint8Array[] | null = null;
  #lastSeq: number | null = null;
  #onUnit: (au: AccessUnit) => void;

  /** `onUnit` receives each complete access unit of a stream in `format`, in order. */
  constructor(format: NalFormat, onUnit: (au: AccessUnit) => void) {
    this.#f = format;
    this.#onUnit = onUnit;
  }

  /** Feeds one RTP packet. */
  push(p: RtpPacket): void {
    if (this.#lastSeq !== null && p.sequence !== ((this.#lastSeq + 1) & 0xffff)) {
      this.#fu = null; // a gap: the fragment in progress is lost
    }
    this.#lastSeq = p.sequence;
    if (this.#timestamp !== null && p.timestamp !== this.#timestamp) this.#flush();
    this.#timestamp = p.timestamp;
    const pl = p.payload;
    const f = this.#f;
    const hb = f.headerBytes;
    if (pl.length < hb) return;
    const type = f.type(pl);
    if (type >= f.minSingle && type <= f.maxSingle) {
      this.#nals.push(pl.slice());
    } else if (type === f.aggregate) {
      let off = hb;
      while (off + 2 <= pl.length) {
        const size = (pl[off] << 8) | pl[off + 1];
        off += 2;
        if (size === 0 || off + size > pl.length) break;
        this.#nals.push(pl.slice(off, off + size));
        off += size;
      }
    } else if (type === f.fragment && pl.length > hb) {
      const start = (pl[hb] & 0x80) !== 0;
      const end = (pl[hb] & 0x40) !== 0;
      if (start) {
        this.#fu = [f.fragmentHeader(pl), pl.slice(hb + 1)];
      } else if (this.#fu) {
        this.#fu.push(pl.slice(hb + 1));
      }
      if (end && this.#fu) {
        this.#nals.push(concat(this.#fu));
        this.#fu = null;
      }
    }
    if (p.marker) this.#flush();
  }

  #flush(): void {
    if (this.#nals.length && this.#timestamp !== null) {
      const nals = this.#nals;
      this.#onUnit({
        timestamp: this.#timestamp,
        nals,
        keyframe: nals.some((n) => this.#f.keyframe(this.#f.type(n))),
      });
    }
    this.#nals = [];
    this.#fu = null;
  }
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
