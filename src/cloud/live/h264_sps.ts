/**
 * What a browser needs to know from an H.264 sequence parameter set (ITU-T H.264 §7.3.2.1.1):
 * the picture size (for the MP4 sample entry) and the RFC 6381 codec string `avc1.PPCCLL` that
 * Media Source Extensions are asked about. Only the fields before the size are walked.
 * @module
 */
import { Bits, unescapeRbsp } from "./rbsp.ts";

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
