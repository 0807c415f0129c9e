/**
 * What sets H.264 and H.265 apart for the live view, in one place: how a NAL unit's header tells
 * its type, how the RTP payload formats (RFC 6184, RFC 7798) aggregate and fragment NAL units,
 * which types are keyframes and parameter sets, and which are left out of an MP4 sample. The
 * depacketizer and the remuxer are written once against this shape; nothing here decodes video.
 * @module
 */

/** The picture encodings the live view plays. */
export type VideoCodec = "h264" | "h265";

/** A parameter set's kind: H.265's video parameter set, or either codec's sequence/picture set. */
export type ParameterSetKind = "vps" | "sps" | "pps";

/** One codec's NAL unit and RTP payload layout. */
export interface NalFormat {
  codec: VideoCodec;
  /** Bytes of a NAL unit header (and of an RTP payload header): 1 for H.264, 2 for H.265. */
  headerBytes: number;
  /** The type of a NAL unit, or of an RTP payload (its header has the NAL header's layout). */
  type(b: Uint8Array): number;
  /** Payload types from this … */
  minSingle: number;
  /** … to this carry one NAL unit each. */
  maxSingle: number;
  /** The payload type of an aggregation packet (STAP-A; H.265's AP). */
  aggregate: number;
  /** The payload type of a fragmentation unit (FU-A; H.265's FU). */
  fragment: number;
  /** The header of the NAL unit a fragment rebuilds, from its payload header and FU header. */
  fragmentHeader(payload: Uint8Array): Uint8Array;
  /** Whether a NAL unit of this type makes its access unit one a decoder can start at. */
  keyframe(type: number): boolean;
  /** The parameter set a NAL unit of this type is, or null. */
  parameterSet(type: number): ParameterSetKind | null;
  /** Whether a NAL unit of this type stays out of an MP4 sample. */
  leftOut(type: number): boolean;
}

/** H.264 (RFC 6184): STAP-A 24, FU-A 28; IDR pictures (5) are keyframes; AUDs (9) left out. */
export const H264: NalFormat = {
  codec: "h264",
  headerBytes: 1,
  type: (b) => b[0] & 0x1f,
  minSingle: 1,
  maxSingle: 23,
  aggregate: 24,
  fragment: 28,
  fragmentHeader: (p) => new Uint8Array([(p[0] & 0xe0) | (p[1] & 0x1f)]),
  keyframe: (t) => t === 5,
  parameterSet: (t) => (t === 7 ? "sps" : t === 8 ? "pps" : null),
  leftOut: (t) => t === 9,
};

/**
 * H.265 (RFC 7798): AP 48, FU 49 (PACI, 50, is not taken); IRAP pictures (BLA, IDR, CRA: 16–21)
 * are keyframes. The sample entry is `hvc1`, whose parameter sets live in the init segment only
 * (ISO/IEC 14496-15 §8.4.1; Safari plays no other), so in-band VPS, SPS and PPS (32–34) are left
 * out of the samples with the AUDs (35). The first sets win, as for H.264 (README).
 */
export const H265: NalFormat = {
  codec: "h265",
  headerBytes: 2,
  type: (b) => (b[0] >> 1) & 0x3f,
  minSingle: 0,
  maxSingle: 47,
  aggregate: 48,
  fragment: 49,
  fragmentHeader: (p) => new Uint8Array([(p[0] & 0x81) | ((p[2] & 0x3f) << 1), p[1]]),
  keyframe: (t) => t >= 16 && t <= 21,
  parameterSet: (t) => (t === 32 ? "vps" : t === 33 ? "sps" : t === 34 ? "pps" : null),
  leftOut: (t) => t >= 32 && t <= 35,
};

/** The format of a codec. */
export function nalFormat(codec: VideoCodec): NalFormat {
  return codec === "h265" ? H265 : H264;
}
