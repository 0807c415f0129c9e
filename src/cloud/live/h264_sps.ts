/**
 * What a browser needs to know from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1):
 * the picture size (for the MP4 sample entry) and the RFC 6381 codec string `avc1.PPCCLL` that
 * Media Source Extensions are asked about. Only the fields before the size are walked.
 * @module
 */

/** Reads bits MSB-first, with emulation-prevention bytes removed. */
class Bits {
  #b: Uint8Array;
  #pos = 0;
  constructor(b: Uint8Array) {
    this.#b = b;
  }
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#b[this.#pos >> 3];
      if (byte === undefined) throw new RangeError("SPS truncated");
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos++;
    }
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.u(1) === 0) if (++zeros > 31) throw new RangeError("bad Exp-Golomb code");
    return zeros ? 2 ** zeros - 1 + this.u(zeros) : 0;
  }
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -k / 2;
  }
}

/** Removes emulation-prevention bytes (00 00 03 → 00 00). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    out.push(byte);
  }
  return new Uint8Array(out);
}

/** What the muxer and the page use from an SPS. */
export interface SpsInfo {
  profile: number;
  compatibility: number;
  level: number;
  width: number;
  height: number;
  /** RFC 6381 codec string, e.g. `avc1.42C01E`. */
  codec: string;
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Parses an SPS NAL unit (with its one-byte header); throws RangeError when malformed. */
export function parseSps(nal: Uint8Array): SpsInfo {
  const r = new Bits(unescapeRbsp(nal.subarray(1)));
  const profile = r.u(8);
  const compatibility = r.u(8);
  const level = r.u(8);
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  if (HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma === 3) r.u(1);
    r.ue();
    r.ue();
    r.u(1);
    if (r.u(1)) {
      for (let i = 0; i < (chroma === 3 ? 12 : 8); i++) {
        if (!r.u(1)) continue;
        let last = 8, next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64); j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.u(1);
    r.se();
    r.se();
    const n = r.ue();
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.u(1);
  const wMbs = r.ue() + 1;
  const hMaps = r.ue() + 1;
  const frameMbsOnly = r.u(1);
  if (!frameMbsOnly) r.u(1);
  r.u(1);
  let [cl, cr, ct, cb] = [0, 0, 0, 0];
  if (r.u(1)) [cl, cr, ct, cb] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const cropX = chroma === 0 || chroma === 3 ? 1 : 2;
  const cropY = (chroma === 1 ? 2 : 1) * (2 - frameMbsOnly);
  const hex = (v: number) => v.toString(16).toUpperCase().padStart(2, "0");
  return {
    profile,
    compatibility,
    level,
    width: wMbs * 16 - (cl + cr) * cropX,
    height: (2 - frameMbsOnly) * hMaps * 16 - (ct + cb) * cropY,
    codec: `avc1.${hex(profile)}${hex(compatibility)}${hex(level)}`,
  };
}
