/**
 * What a browser needs to know from an H.265 sequence parameter set (ITU-T H.265 §7.3.2.2): the
 * picture size (for the MP4 sample entry), the profile, tier, level and formats the `hvcC` box
 * repeats, and the ISO/IEC 14496-15 Annex E codec string `hvc1.…` that Media Source Extensions
 * are asked about. Only the fields up to the bit depths are walked.
 * @module
 */
import { Bits, unescapeRbsp } from "./rbsp.ts";

/** What the muxer and the page use from an H.265 SPS. */
export interface HevcSpsInfo {
  /** general_profile_space (0–3), general_tier_flag, general_profile_idc. */
  profileSpace: number;
  tier: number;
  profile: number;
  /** The 32 general_profile_compatibility_flags, flag 0 as the most significant bit. */
  compatibility: number;
  /** The 48 bits of general constraint flags, as six bytes. */
  constraints: Uint8Array;
  /** general_level_idc (30 × the level: 93 is level 3.1). */
  level: number;
  /** sps_max_sub_layers_minus1 + 1, and sps_temporal_id_nesting_flag. */
  subLayers: number;
  temporalIdNesting: number;
  chromaFormat: number;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  /** The picture's size after the conformance window's crop. */
  width: number;
  height: number;
  /** The codec string, e.g. `hvc1.1.6.L93.B0`. */
  codec: string;
}

/** The codec string's compatibility field: the 32 flags in reverse bit order, in hex. */
function reversedHex(flags: number): string {
  let r = 0;
  for (let i = 0; i < 32; i++) r = r * 2 + ((flags >>> i) & 1);
  return r.toString(16).toUpperCase();
}

/** Parses an H.265 SPS NAL unit (with its two-byte header); throws RangeError when malformed. */
export function parseHevcSps(nal: Uint8Array): HevcSpsInfo {
  if (nal.length < 3 || ((nal[0] >> 1) & 0x3f) !== 33) throw new RangeError("not an H.265 SPS");
  const r = new Bits(unescapeRbsp(nal.subarray(2)));
  r.u(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  const temporalIdNesting = r.u(1);
  // profile_tier_level(1, sps_max_sub_layers_minus1)
  const profileSpace = r.u(2);
  const tier = r.u(1);
  const profile = r.u(5);
  const compatibility = r.u(32);
  const constraints = new Uint8Array(6);
  for (let i = 0; i < 6; i++) constraints[i] = r.u(8);
  const level = r.u(8);
  const subProfile: number[] = [];
  const subLevel: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subProfile.push(r.u(1));
    subLevel.push(r.u(1));
  }
  if (maxSubLayersMinus1 > 0) { for (let i = maxSubLayersMinus1; i < 8; i++) r.u(2); }
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (subProfile[i]) {
      r.u(44); // sub_layer_profile_space … the constraint flags: 88 bits in all
      r.u(44);
    }
    if (subLevel[i]) r.u(8);
  }
  r.ue(); // sps_seq_parameter_set_id
  const chromaFormat = r.ue();
  if (chromaFormat > 3) throw new RangeError("bad chroma_format_idc");
  if (chromaFormat === 3) r.u(1); // separate_colour_plane_flag
  const w = r.ue();
  const h = r.ue();
  let [cl, cr, ct, cb] = [0, 0, 0, 0];
  if (r.u(1)) [cl, cr, ct, cb] = [r.ue(), r.ue(), r.ue(), r.ue()];
  const bitDepthLumaMinus8 = r.ue();
  const bitDepthChromaMinus8 = r.ue();
  if (bitDepthLumaMinus8 > 8 || bitDepthChromaMinus8 > 8) throw new RangeError("bad bit depth");
  const subW = chromaFormat === 1 || chromaFormat === 2 ? 2 : 1;
  const subH = chromaFormat === 1 ? 2 : 1;
  const width = w - subW * (cl + cr);
  const height = h - subH * (ct + cb);
  if (!(width > 0 && height > 0 && width < 65536 && height < 65536)) {
    throw new RangeError("bad picture size");
  }
  let last = 6;
  while (last > 0 && constraints[last - 1] === 0) last--;
  const codec = [
    "hvc1",
    `${["", "A", "B", "C"][profileSpace]}${profile}`,
    reversedHex(compatibility),
    `${tier ? "H" : "L"}${level}`,
    ...[...constraints.subarray(0, last)].map((b) => b.toString(16).toUpperCase()),
  ].join(".");
  return {
    profileSpace,
    tier,
    profile,
    compatibility,
    constraints,
    level,
    subLayers: maxSubLayersMinus1 + 1,
    temporalIdNesting,
    chromaFormat,
    bitDepthLumaMinus8,
    bitDepthChromaMinus8,
    width,
    height,
    codec,
  };
}
