/**
 * Fragmented MP4 (ISO/IEC 14496-12, with the avcC of 14496-15) for one H.264 track, as Media
 * Source Extensions take it: an init segment (ftyp + moov with the SPS/PPS) and then one media
 * segment (moof + mdat) per picture. Samples are length-prefixed NAL units in the RTP clock
 * (90 kHz), so nothing is re-timed or transcoded — the camera's bytes are only re-framed.
 * @module
 */
import { parseSps } from "./h264_sps.ts";
import { NAL, nalType } from "./rtp_h264.ts";

/** The timescale of the track: the RTP clock of H.264. */
export const TIMESCALE = 90_000;

const enc = new TextEncoder();

function u16(v: number): number[] {
  return [(v >>> 8) & 0xff, v & 0xff];
}
function u32(v: number): number[] {
  return [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
}
function u64(v: number): number[] {
  return [...u32(Math.floor(v / 2 ** 32)), ...u32(v >>> 0)];
}
function zeros(n: number): number[] {
  return new Array(n).fill(0);
}

type Part = Uint8Array | number[];

/** One box: size, four-character type, then its parts. */
export function box(type: string, ...parts: Part[]): Uint8Array {
  const size = 8 + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(size);
  out.set(u32(size));
  out.set(enc.encode(type), 4);
  let off = 8;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A full box: box with version and flags. */
function fullBox(type: string, version: number, flags: number, ...parts: Part[]): Uint8Array {
  return box(type, [version, (flags >> 16) & 0xff, (flags >> 8) & 0xff, flags & 0xff], ...parts);
}

const MATRIX = [...u32(0x10000), ...zeros(12), ...u32(0x10000), ...zeros(12), ...u32(0x40000000)];

/** The init segment for a track with this SPS and PPS; also the MSE codec string. */
export function initSegment(
  sps: Uint8Array,
  pps: Uint8Array,
): { bytes: Uint8Array; codec: string; width: number; height: number } {
  const info = parseSps(sps);
  const avcC = box(
    "avcC",
    [1, sps[1], sps[2], sps[3], 0xff, 0xe1, ...u16(sps.length)],
    sps,
    [1, ...u16(pps.length)],
    pps,
  );
  const avc1 = box(
    "avc1",
    zeros(6),
    u16(1),
    zeros(16),
    u16(info.width),
    u16(info.height),
    u32(0x00480000),
    u32(0x00480000),
    zeros(4),
    u16(1),
    zeros(32),
    u16(0x18),
    u16(0xffff),
    avcC,
  );
  const empty = (t: string) => fullBox(t, 0, 0, u32(0));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, u32(1), avc1),
    empty("stts"),
    empty("stsc"),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    empty("stco"),
  );
  const minf = box(
    "minf",
    fullBox("vmhd", 0, 1, zeros(8)),
    box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1))),
    stbl,
  );
  const mdia = box(
    "mdia",
    fullBox("mdhd", 0, 0, zeros(8), u32(TIMESCALE), u32(0), u16(0x55c4), u16(0)),
    fullBox("hdlr", 0, 0, zeros(4), enc.encode("vide"), zeros(12), enc.encode("VideoHandler\0")),
    minf,
  );
  const trak = box(
    "trak",
    fullBox(
      "tkhd",
      0,
      3,
      zeros(8),
      u32(1),
      zeros(4),
      u32(0),
      zeros(8),
      zeros(8),
      MATRIX,
      u32(info.width << 16),
      u32(info.height << 16),
    ),
    mdia,
  );
  const moov = box(
    "moov",
    fullBox(
      "mvhd",
      0,
      0,
      zeros(8),
      u32(1000),
      u32(0),
      u32(0x10000),
      u16(0x100),
      zeros(10),
      MATRIX,
      zeros(24),
      u32(2),
    ),
    trak,
    box("mvex", fullBox("trex", 0, 0, u32(1), u32(1), u32(0), u32(0), u32(0))),
  );
  const ftyp = box("ftyp", enc.encode("isom"), u32(0x200), enc.encode("isomiso2avc1iso6mp41"));
  const bytes = new Uint8Array(ftyp.length + moov.length);
  bytes.set(ftyp);
  bytes.set(moov, ftyp.length);
  return { bytes, codec: info.codec, width: info.width, height: info.height };
}

/** Sample flags: a sync sample, or one that depends on others. */
const SYNC = 0x02000000;
const NON_SYNC = 0x01010000;

/**
 * One media segment holding one picture: `nals` (without start codes; access-unit delimiters
 * are left out) at `decodeTime` for `duration`, both in TIMESCALE units.
 */
export function mediaSegment(
  sequence: number,
  decodeTime: number,
  duration: number,
  nals: Uint8Array[],
  keyframe: boolean,
): Uint8Array {
  const kept = nals.filter((n) => nalType(n) !== NAL.AUD);
  const size = kept.reduce((n, x) => n + 4 + x.length, 0);
  const build = (dataOffset: number) =>
    box(
      "moof",
      fullBox("mfhd", 0, 0, u32(sequence)),
      box(
        "traf",
        fullBox("tfhd", 0, 0x020000, u32(1)),
        fullBox("tfdt", 1, 0, u64(decodeTime)),
        fullBox(
          "trun",
          0,
          0x000701,
          u32(1),
          u32(dataOffset),
          u32(duration),
          u32(size),
          u32(keyframe ? SYNC : NON_SYNC),
        ),
      ),
    );
  const moofSize = build(0).length;
  const moof = build(moofSize + 8);
  const out = new Uint8Array(moof.length + 8 + size);
  out.set(moof);
  out.set(u32(8 + size), moof.length);
  out.set(enc.encode("mdat"), moof.length + 4);
  let off = moof.length + 8;
  for (const n of kept) {
    out.set(u32(n.length), off);
    out.set(n, off + 4);
    off += 4 + n.length;
  }
  return out;
}

/** One box read back (for tests and tools): type, payload and children where known. */
export interface ParsedBox {
  type: string;
  payload: Uint8Array;
  children?: ParsedBox[];
}

const CONTAINERS = new Set([
  "moov",
  "trak",
  "mdia",
  "minf",
  "stbl",
  "dinf",
  "mvex",
  "moof",
  "traf",
]);

/** Parses a sequence of boxes, descending into plain containers. */
export function parseBoxes(b: Uint8Array): ParsedBox[] {
  const out: ParsedBox[] = [];
  let off = 0;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (off + 8 <= b.length) {
    const size = dv.getUint32(off);
    if (size < 8 || off + size > b.length) throw new RangeError(`bad box size at ${off}`);
    const type = new TextDecoder().decode(b.subarray(off + 4, off + 8));
    const payload = b.subarray(off + 8, off + size);
    out.push(
      CONTAINERS.has(type) ? { type, payload, children: parseBoxes(payload) } : { type, payload },
    );
    off += size;
  }
  if (off !== b.length) throw new RangeError("trailing bytes after the last box");
  return out;
}
