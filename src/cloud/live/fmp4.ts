/**
 * Fragmented MP4 (ISO/IEC 14496-12, with the avcC or hvcC of 14496-15) for one H.264 or H.265
 * track and, when the
 * camera sends sound, a second track (AAC with the esds of 14496-14, or FLAC with its dfLa), as
 * Media Source Extensions take it: an init segment (ftyp + moov with the SPS/PPS and the sound's
 * decoder configuration) and then media segments (moof + mdat): one per picture, one per packet
 * of sound. Samples are length-prefixed NAL units in the RTP clock (90 kHz) and AAC or FLAC frames
 * in the sample rate, so nothing is re-timed or transcoded — the camera's bytes are only
 * re-framed (G.711 is expanded to FLAC's verbatim samples, losslessly: g711_flac.ts).
 * @module
 */
import { parseSps } from "./h264_sps.ts";
import { parseHevcSps } from "./h265_sps.ts";
import { H264, type NalFormat } from "./nal_format.ts";
import { streamInfo } from "./g711_flac.ts";

/** The timescale of the video track: the RTP clock of H.264 and H.265. */
export const TIMESCALE = 90_000;

/** The video track's id; the sound's is {@link AUDIO_TRACK}. */
const VIDEO_TRACK = 1;
/** The sound track's id. */
export const AUDIO_TRACK = 2;

/** The sound an init segment carries beside the picture. */
export interface AudioConfig {
  /** The sample rate (the track's timescale). */
  rate: number;
  channels: number;
  /** AAC's AudioSpecificConfig. */
  config: Uint8Array;
  /** Its MSE codec: `mp4a.40.2` (AAC), or `flac` (G.711 made FLAC: g711_flac.ts). */
  codec: string;
}

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

/** An MPEG-4 descriptor (14496-1): tag, size in the four-byte form, body. */
function descriptor(tag: number, ...parts: number[][]): number[] {
  const body = parts.flat();
  const n = body.length;
  return [
    tag,
    0x80 | (n >> 21),
    0x80 | ((n >> 14) & 0x7f),
    0x80 | ((n >> 7) & 0x7f),
    n & 0x7f,
    ...body,
  ];
}

/** What sets one track's trak apart: its id, size, clock, handler and sample entry. */
interface TrakParts {
  id: number;
  /** Pixels (0 for sound). */
  width: number;
  height: number;
  timescale: number;
  handler: "vide" | "soun";
  /** The media header: vmhd or smhd. */
  header: Uint8Array;
  /** The sample entry: avc1 or mp4a. */
  entry: Uint8Array;
}

/** One track's trak: empty sample tables (the samples are in the fragments). */
function trak(t: TrakParts): Uint8Array {
  const empty = (type: string) => fullBox(type, 0, 0, u32(0));
  const stbl = box(
    "stbl",
    fullBox("stsd", 0, 0, u32(1), t.entry),
    empty("stts"),
    empty("stsc"),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    empty("stco"),
  );
  const minf = box(
    "minf",
    t.header,
    box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1))),
    stbl,
  );
  const name = t.handler === "vide" ? "VideoHandler\0" : "SoundHandler\0";
  const mdia = box(
    "mdia",
    fullBox("mdhd", 0, 0, zeros(8), u32(t.timescale), u32(0), u16(0x55c4), u16(0)),
    fullBox("hdlr", 0, 0, zeros(4), enc.encode(t.handler), zeros(12), enc.encode(name)),
    minf,
  );
  return box(
    "trak",
    fullBox(
      "tkhd",
      0,
      3,
      zeros(8),
      u32(t.id),
      zeros(4),
      u32(0),
      zeros(8),
      zeros(4),
      u16(t.handler === "soun" ? 0x100 : 0), // volume
      zeros(2),
      MATRIX,
      u32(t.width << 16),
      u32(t.height << 16),
    ),
    mdia,
  );
}

/** AAC's sample entry: `mp4a`, whose esds holds the AudioSpecificConfig (ISO/IEC 14496-14). */
function mp4a(a: AudioConfig): Uint8Array {
  const esds = fullBox(
    "esds",
    0,
    0,
    descriptor(
      3,
      [...u16(AUDIO_TRACK), 0],
      descriptor(
        4,
        [0x40, 0x15, 0, 0, 0, ...u32(0), ...u32(0)],
        descriptor(5, [...a.config]),
      ),
      descriptor(6, [2]),
    ),
  );
  return audioEntry("mp4a", a, esds);
}

/** FLAC's sample entry: `fLaC`, whose dfLa holds the STREAMINFO block (FLAC in ISOBMFF). */
function fLaC(a: AudioConfig): Uint8Array {
  const info = streamInfo(a.rate, a.channels);
  const dfLa = fullBox("dfLa", 0, 0, [0x80, 0, 0, info.length], info);
  return audioEntry("fLaC", a, dfLa);
}

/** An AudioSampleEntry of `type` for 16-bit samples, with its decoder's box. */
function audioEntry(type: string, a: AudioConfig, decoder: Uint8Array): Uint8Array {
  return box(
    type,
    zeros(6),
    u16(1),
    zeros(8),
    u16(a.channels),
    u16(16),
    zeros(4),
    u32(a.rate * 0x10000),
    decoder,
  );
}

/** The sound's trak: AAC as it came, or G.711 made FLAC. */
function audioTrak(a: AudioConfig): Uint8Array {
  const entry = a.codec === "flac" ? fLaC(a) : mp4a(a);
  return trak({
    id: AUDIO_TRACK,
    width: 0,
    height: 0,
    timescale: a.rate,
    handler: "soun",
    header: fullBox("smhd", 0, 0, zeros(4)),
    entry,
  });
}

/** What an init segment is: its bytes, and what MSE is asked about and the page sizes. */
export interface InitSegment {
  bytes: Uint8Array;
  codec: string;
  width: number;
  height: number;
}

/** A visual sample entry (`avc1`, `hvc1`) of this size around its decoder configuration. */
function visualEntry(type: string, width: number, height: number, config: Uint8Array): Uint8Array {
  return box(
    type,
    zeros(6),
    u16(1),
    zeros(16),
    u16(width),
    u16(height),
    u32(0x00480000),
    u32(0x00480000),
    zeros(4),
    u16(1),
    zeros(32),
    u16(0x18),
    u16(0xffff),
    config,
  );
}

/** The init segment around a video sample entry (and the sound's track with `audio`). */
function initWith(
  entry: Uint8Array,
  brands: string,
  video: { codec: string; width: number; height: number },
  audio?: AudioConfig | null,
): InitSegment {
  const trakVideo = trak({
    id: VIDEO_TRACK,
    width: video.width,
    height: video.height,
    timescale: TIMESCALE,
    handler: "vide",
    header: fullBox("vmhd", 0, 1, zeros(8)),
    entry,
  });
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
      u32(audio ? AUDIO_TRACK + 1 : VIDEO_TRACK + 1),
    ),
    trakVideo,
    ...(audio ? [audioTrak(audio)] : []),
    box(
      "mvex",
      fullBox("trex", 0, 0, u32(VIDEO_TRACK), u32(1), u32(0), u32(0), u32(0)),
      ...(audio ? [fullBox("trex", 0, 0, u32(AUDIO_TRACK), u32(1), u32(0), u32(0), u32(0))] : []),
    ),
  );
  const ftyp = box("ftyp", enc.encode("isom"), u32(0x200), enc.encode(brands));
  const bytes = new Uint8Array(ftyp.length + moov.length);
  bytes.set(ftyp);
  bytes.set(moov, ftyp.length);
  const codec = audio ? `${video.codec},${audio.codec}` : video.codec;
  return { bytes, codec, width: video.width, height: video.height };
}

/**
 * The init segment for an H.264 track with this SPS and PPS (and a sound track with `audio`);
 * also the MSE codec string (`avc1.…`, or `avc1.…,mp4a.40.2` with sound).
 */
export function initSegment(
  sps: Uint8Array,
  pps: Uint8Array,
  audio?: AudioConfig | null,
): InitSegment {
  const info = parseSps(sps);
  const avcC = box(
    "avcC",
    [1, sps[1], sps[2], sps[3], 0xff, 0xe1, ...u16(sps.length)],
    sps,
    [1, ...u16(pps.length)],
    pps,
  );
  return initWith(
    visualEntry("avc1", info.width, info.height, avcC),
    "isomiso2avc1iso6mp41",
    info,
    audio,
  );
}

/**
 * The init segment for an H.265 track with this VPS, SPS and PPS (and a sound track with
 * `audio`): an `hvc1` sample entry whose `hvcC` (14496-15 §8.3.3) holds the three sets, NAL
 * units prefixed with four bytes of length; the MSE codec string `hvc1.…` (with the sound's).
 */
export function hevcInitSegment(
  vps: Uint8Array,
  sps: Uint8Array,
  pps: Uint8Array,
  audio?: AudioConfig | null,
): InitSegment {
  const i = parseHevcSps(sps);
  const array = (type: number, nal: Uint8Array) => [0x80 | type, ...u16(1), ...u16(nal.length)];
  const hvcC = box(
    "hvcC",
    [
      1,
      (i.profileSpace << 6) | (i.tier << 5) | i.profile,
      ...u32(i.compatibility),
      ...i.constraints,
      i.level,
      ...u16(0xf000), // min_spatial_segmentation_idc 0
      0xfc, // parallelismType 0: unknown
      0xfc | i.chromaFormat,
      0xf8 | i.bitDepthLumaMinus8,
      0xf8 | i.bitDepthChromaMinus8,
      ...u16(0), // avgFrameRate: unknown
      ((i.subLayers & 7) << 3) | (i.temporalIdNesting << 2) | 3, // lengthSizeMinusOne 3
      3,
      ...array(32, vps),
    ],
    vps,
    array(33, sps),
    sps,
    array(34, pps),
    pps,
  );
  return initWith(visualEntry("hvc1", i.width, i.height, hvcC), "isomiso2iso6mp41", i, audio);
}

/** Sample flags: a sync sample, or one that depends on others. */
const SYNC = 0x02000000;
const NON_SYNC = 0x01010000;

/**
 * One media segment holding one picture: `nals` (without start codes; access-unit delimiters
 * and what else `format` leaves out of a sample) at `decodeTime` for `duration`, both in
 * TIMESCALE units.
 */
export function mediaSegment(
  sequence: number,
  decodeTime: number,
  duration: number,
  nals: Uint8Array[],
  keyframe: boolean,
  format: NalFormat = H264,
): Uint8Array {
  const kept = nals.filter((n) => !format.leftOut(format.type(n)));
  const size = kept.reduce((n, x) => n + 4 + x.length, 0);
  return fragment(
    sequence,
    (dataOffset) =>
      box(
        "traf",
        fullBox("tfhd", 0, 0x020000, u32(VIDEO_TRACK)),
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
    kept,
    true,
  );
}

/**
 * A moof (its traf made for the data offset it ends up with) and the mdat of `samples`, each
 * prefixed with its length (`prefixed`: NAL units) or not (AAC frames).
 */
function fragment(
  sequence: number,
  traf: (dataOffset: number) => Uint8Array,
  samples: Uint8Array[],
  prefixed: boolean,
): Uint8Array {
  const size = samples.reduce((n, x) => n + (prefixed ? 4 : 0) + x.length, 0);
  const build = (dataOffset: number) =>
    box("moof", fullBox("mfhd", 0, 0, u32(sequence)), traf(dataOffset));
  const moof = build(build(0).length + 8);
  const out = new Uint8Array(moof.length + 8 + size);
  out.set(moof);
  out.set(u32(8 + size), moof.length);
  out.set(enc.encode("mdat"), moof.length + 4);
  let off = moof.length + 8;
  for (const x of samples) {
    if (prefixed) {
      out.set(u32(x.length), off);
      off += 4;
    }
    out.set(x, off);
    off += x.length;
  }
  return out;
}

/**
 * One media segment of sound: `frames` (AAC, or FLAC) of `frameSamples` samples each, the first at
 * `decodeTime` (in the sample rate).
 */
export function audioSegment(
  sequence: number,
  decodeTime: number,
  frames: Uint8Array[],
  frameSamples: number,
): Uint8Array {
  return fragment(
    sequence,
    (dataOffset) =>
      box(
        "traf",
        fullBox("tfhd", 0, 0x020000 | 0x08, u32(AUDIO_TRACK), u32(frameSamples)),
        fullBox("tfdt", 1, 0, u64(decodeTime)),
        fullBox(
          "trun",
          0,
          0x000201,
          u32(frames.length),
          u32(dataOffset),
          ...frames.map((f) => u32(f.length)),
        ),
      ),
    frames,
    false,
  );
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
