/**
 * G.711 sound made playable in a browser. Many cameras send their sound as G.711 (PCMU/PCMA, RFC
 * 3551; the factory setting of many), which no browser's Media Source Extensions take. FLAC in
 * MP4 they do (Chromium, Firefox, Safari), and FLAC can carry samples as they are (VERBATIM
 * subframes): so each RTP packet's G.711 bytes are expanded to 16-bit samples by the ITU-T G.711
 * tables and framed as one FLAC frame — lossless, no encoder, a table look-up and two CRCs. The
 * cost is the bandwidth: 16 bits a sample instead of 8 (128 kbit/s for a mono 8 kHz camera).
 * @module
 */
import type { AudioFrames } from "./rtp_aac.ts";
import type { RtpPacket } from "./rtp_video.ts";

/** The longest FLAC frame this module makes, in samples (FLAC's streamable subset). */
export const FLAC_MAX_BLOCK = 4608;

/** G.711 μ-law (PCMU) to 16-bit linear, ITU-T G.711. */
function ulaw(byte: number): number {
  const u = ~byte & 0xff;
  const exponent = (u >> 4) & 7;
  const sample = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -sample : sample;
}

/** G.711 A-law (PCMA) to 16-bit linear, ITU-T G.711. */
function alaw(byte: number): number {
  const a = byte ^ 0x55;
  const exponent = (a >> 4) & 7;
  const mantissa = a & 0x0f;
  const sample = exponent === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (exponent - 1);
  return a & 0x80 ? sample : -sample;
}

/** Each byte's 16-bit sample, for μ-law and for A-law. */
export const G711 = {
  pcmu: Int16Array.from({ length: 256 }, (_, i) => ulaw(i)),
  pcma: Int16Array.from({ length: 256 }, (_, i) => alaw(i)),
} as const;

/** CRC-8 of FLAC frame headers (polynomial x^8 + x^2 + x + 1). */
const CRC8 = Uint8Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
  return c;
});

/** CRC-16 of FLAC frames (polynomial x^16 + x^15 + x^2 + 1). */
const CRC16 = Uint16Array.from({ length: 256 }, (_, i) => {
  let c = i << 8;
  for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
  return c;
});

/**
 * The STREAMINFO block (34 bytes) of a stream of 16-bit samples at `rate` on `channels`, its
 * frames of variable length up to {@link FLAC_MAX_BLOCK}; lengths and the MD5 left unknown.
 */
export function streamInfo(rate: number, channels: number): Uint8Array {
  const b = new Uint8Array(34);
  b[0] = 0;
  b[1] = 16; // the smallest block: FLAC's own lower bound
  b[2] = FLAC_MAX_BLOCK >> 8;
  b[3] = FLAC_MAX_BLOCK & 0xff;
  // 20 bits of sample rate, 3 of channels − 1, 5 of bits per sample − 1, 36 of total samples.
  b[10] = (rate >> 12) & 0xff;
  b[11] = (rate >> 4) & 0xff;
  b[12] = ((rate & 0x0f) << 4) | ((channels - 1) << 1) | (15 >> 4);
  b[13] = (15 & 0x0f) << 4;
  return b;
}

/** FLAC's UTF-8-like coding of a sample number (up to 36 bits). */
function codedNumber(n: number): number[] {
  if (n < 0x80) return [n];
  const out: number[] = [];
  let bytes = 2;
  while (n >= 2 ** (5 * bytes + 1)) bytes++;
  for (let i = 0; i < bytes - 1; i++) {
    out.unshift(0x80 | (n & 0x3f));
    n = Math.floor(n / 64);
  }
  out.unshift(((0xff00 >> bytes) & 0xff) | n);
  return out;
}

/**
 * One FLAC frame of the G.711 bytes `payload` (interleaved when stereo) as 16-bit VERBATIM
 * subframes, starting at sample `sampleNumber` of the stream; null when the payload holds no
 * whole sample or more than {@link FLAC_MAX_BLOCK}.
 */
export function flacFrame(
  payload: Uint8Array,
  encoding: "pcmu" | "pcma",
  channels: number,
  sampleNumber: number,
): Uint8Array | null {
  const block = Math.floor(payload.length / channels);
  if (block < 1 || block > FLAC_MAX_BLOCK) return null;
  const head = [
    0xff,
    0xf9, // sync, variable block size: the header carries the sample number
    0x70, // block size: 16 bits follow; sample rate: from STREAMINFO
    ((channels - 1) << 4) | 0x08, // independent channels, 16 bits a sample
    ...codedNumber(sampleNumber),
    (block - 1) >> 8,
    (block - 1) & 0xff,
  ];
  let crc8 = 0;
  for (const x of head) crc8 = CRC8[crc8 ^ x];
  head.push(crc8);
  const out = new Uint8Array(head.length + channels * (1 + 2 * block) + 2);
  out.set(head);
  const table = G711[encoding];
  let off = head.length;
  for (let ch = 0; ch < channels; ch++) {
    out[off++] = 0x02; // VERBATIM, no wasted bits
    for (let i = 0; i < block; i++) {
      const s = table[payload[i * channels + ch]];
      out[off++] = (s >> 8) & 0xff;
      out[off++] = s & 0xff;
    }
  }
  let crc16 = 0;
  for (let i = 0; i < off; i++) crc16 = ((crc16 << 8) & 0xffff) ^ CRC16[(crc16 >> 8) ^ out[i]];
  out[off] = crc16 >> 8;
  out[off + 1] = crc16 & 0xff;
  return out;
}

/**
 * Turns a camera's G.711 RTP packets into FLAC frames: one a packet, or several for a packet
 * longer than {@link FLAC_MAX_BLOCK} samples.
 */
export class G711ToFlac {
  #encoding: "pcmu" | "pcma";
  #channels: number;
  #onFrames: (f: AudioFrames) => void;
  #first: number | null = null;

  /** `onFrames` gets each packet's frame. */
  constructor(
    track: { encoding: "pcmu" | "pcma"; channels: number },
    onFrames: (f: AudioFrames) => void,
  ) {
    this.#encoding = track.encoding;
    this.#channels = track.channels;
    this.#onFrames = onFrames;
  }

  /** Feeds one RTP packet of the sound track. */
  push(p: RtpPacket): void {
    this.#first ??= p.timestamp;
    // The frame's sample number: samples since the first packet (the RTP clock is the rate).
    const at = (p.timestamp - this.#first) >>> 0;
    const ch = this.#channels;
    const samples = Math.floor(p.payload.length / ch);
    // A packet longer than a FLAC frame holds (a camera sending a second or more at a time) is
    // several frames, each with its own place in the stream.
    for (let off = 0; off < samples; off += FLAC_MAX_BLOCK) {
      const n = Math.min(FLAC_MAX_BLOCK, samples - off);
      const part = p.payload.subarray(off * ch, (off + n) * ch);
      const frame = flacFrame(part, this.#encoding, ch, (at + off) >>> 0);
      if (!frame) return;
      this.#onFrames({ timestamp: (p.timestamp + off) >>> 0, frames: [frame], frameSamples: n });
    }
  }
}
