// The live view's H.265 parts: the SDP's track and its sprop-vps/sps/pps, RTP H.265
// depacketization (RFC 7798: single NAL units, an aggregation packet, fragments rebuilt with their
// two-byte header, a lost fragment), the SPS's size and the codec string GStreamer's own codec
// utilities give for the same stream, the hvc1 sample entry's hvcC byte for byte as GStreamer's
// qtdemux hands it on, and the remuxer: no init segment before all three parameter sets, and the
// sets left out of the samples (`hvc1` keeps them in the init segment only).
import { findBox, rtpPacket } from "../../../_fixtures/rtp_packets.ts";
import { assertEquals, assertThrows } from "../../../_fixtures/assert.ts";
import {
  type AccessUnit,
  NalDepacketizer,
  parseRtp,
} from "../../../../src/cloud/live/rtp_video.ts";
import { H265 } from "../../../../src/cloud/live/nal_format.ts";
import { parseHevcSps } from "../../../../src/cloud/live/h265_sps.ts";
import { parseSdp } from "../../../../src/cloud/live/sdp.ts";
import { hevcInitSegment, parseBoxes } from "../../../../src/cloud/live/fmp4.ts";
import { Remuxer, type Segment } from "../../../../src/cloud/live/remuxer.ts";

// The test camera's SDP (GStreamer's rtph265pay after x265, Main profile, 320x240, 15 fps).
const SDP = [
  "v=0",
  "o=- 7661652347423126949 1 IN IP4 127.0.0.1",
  "s=Session streamed with GStreamer",
  "t=0 0",
  "a=control:*",
  "m=video 0 RTP/AVP 96",
  "c=IN IP4 0.0.0.0",
  "a=rtpmap:96 H265/90000",
  "a=framerate:15",
  "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA/ugJA;" +
  "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwA/oAoIDxZbpKTC//AAEAAWoMDAwIAAAAMAgAAAB4Q=;sprop-pps=RAHAcYMS",
  "a=control:stream=0",
  "",
].join("\r\n");
const BASE = "rtsp://127.0.0.1:8554/live/cam1/";

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const VPS = b64("QAEMAf//AWAAAAMAkAAAAwAAAwA/ugJA");
const SPS = b64("QgEBAWAAAAMAkAAAAwAAAwA/oAoIDxZbpKTC//AAEAAWoMDAwIAAAAMAgAAAB4Q=");
const PPS = b64("RAHAcYMS");

/** A NAL unit header of `type` (layer 0, TemporalId 1) and a body. */
const nal = (type: number, ...body: number[]) => new Uint8Array([type << 1, 0x01, ...body]);
const type = (n: Uint8Array) => (n[0] >> 1) & 0x3f;

Deno.test("h265 sdp: the track, its control URL and its three parameter sets", () => {
  const t = parseSdp(SDP, BASE)!;
  assertEquals([t.codec, t.payloadType, t.controlUrl], ["h265", 96, BASE + "stream=0"]);
  assertEquals([[...t.vps!], [...t.sps!], [...t.pps!]], [[...VPS], [...SPS], [...PPS]]);
  // An H.264 camera's track says so, with no VPS.
  const h264 = parseSdp(SDP.replace("H265/90000", "H264/90000"), BASE)!;
  assertEquals([h264.codec, h264.vps], ["h264", null]);
  assertEquals(t.unplayable, null);
  // Decoding order numbers in every packet (RFC 7798 §4.4): refused in words, not played damaged.
  for (const don of ["sprop-max-don-diff=2", "sprop-depack-buf-nalus=1"]) {
    const d = parseSdp(SDP.replace("sprop-vps=", `${don};sprop-vps=`), BASE)!;
    assertEquals(
      d.unplayable,
      "the camera sends H.265 with decoding order numbers (sprop-max-don-diff), which the " +
        "live view does not play; use the RTSP URL",
    );
  }
  assertEquals(
    parseSdp(SDP.replace("sprop-vps=", "sprop-max-don-diff=0;sprop-vps="), BASE)!.unplayable,
    null,
  );
  // Neither: no track to play.
  assertEquals(parseSdp(SDP.replace("H265/90000", "JPEG/90000"), BASE), null);
});

Deno.test("h265 sdp: a camera offering H.265 and H.264 gets its H.264 track played", () => {
  // A second video section, listed after the H.265 one: payload type 97, H.264, its own control.
  const [head, h265] = SDP.split("m=video");
  const h264 = "m=video 0 RTP/AVP 97\r\n" +
    "a=rtpmap:97 H264/90000\r\n" +
    "a=fmtp:97 packetization-mode=1;" +
    "sprop-parameter-sets=Z0LAHtkBQfsBEAAAAwAQAAADAwDxgyS=,aMuMsg==\r\n" +
    "a=control:stream=1\r\n";
  const both = `${head}m=video${h265}${h264}`;
  const t = parseSdp(both, BASE)!;
  assertEquals([t.codec, t.payloadType, t.controlUrl], ["h264", 97, BASE + "stream=1"]);
  assertEquals([t.sps?.[0], t.pps?.[0]], [0x67, 0x68]);
  // Listed the other way round, the same.
  assertEquals(parseSdp(`${head}${h264}m=video${h265}`, BASE)!.payloadType, 97);
  // Two H.265 tracks, the first refused (decoding order numbers): the playable one is played.
  const refused = `m=video${h265}`.replace("sprop-vps=", "sprop-max-don-diff=2;sprop-vps=");
  const second = `m=video${h265}`.replaceAll("96", "98").replace("stream=0", "stream=2");
  const pick = parseSdp(`${head}${refused}${second}`, BASE)!;
  assertEquals([pick.codec, pick.payloadType, pick.unplayable], ["h265", 98, null]);
  // Only the refused one: it is the track, and its words say why it does not play.
  assertEquals(parseSdp(`${head}${refused}`, BASE)!.unplayable !== null, true);
});

Deno.test("h265 sps: size, profile, level and the codec string GStreamer gives", () => {
  const i = parseHevcSps(SPS);
  assertEquals([i.width, i.height, i.profile, i.tier, i.level], [320, 240, 1, 0, 63]);
  assertEquals([i.chromaFormat, i.bitDepthLumaMinus8, i.subLayers], [1, 0, 1]);
  // GstPbutils.codec_utils_caps_get_mime_codec of h265parse's caps for the same stream.
  assertEquals(i.codec, "hvc1.1.6.L63.90");
  assertThrows(() => parseHevcSps(SPS.subarray(0, 12)), RangeError);
  assertThrows(() => parseHevcSps(PPS), RangeError, "not an H.265 SPS");
});

Deno.test("h265 depacketizer: single NAL units, an AP, fragments and a lost fragment", () => {
  const units: AccessUnit[] = [];
  const d = new NalDepacketizer(H265, (au) => units.push(au));
  // An AP (type 48) with VPS, SPS and PPS, then an IDR_W_RADL (19) in three FUs (type 49).
  const ap = [48 << 1, 1, ...[VPS, SPS, PPS].flatMap((n) => [0, n.length, ...n])];
  d.push(parseRtp(rtpPacket(1, 3000, false, ap))!);
  d.push(parseRtp(rtpPacket(2, 3000, false, [49 << 1, 1, 0x80 | 19, 1, 2]))!);
  d.push(parseRtp(rtpPacket(3, 3000, false, [49 << 1, 1, 19, 3, 4]))!);
  d.push(parseRtp(rtpPacket(4, 3000, true, [49 << 1, 1, 0x40 | 19, 5]))!);
  assertEquals(units.length, 1);
  assertEquals(units[0].keyframe, true);
  assertEquals(units[0].nals.map(type), [32, 33, 34, 19]);
  assertEquals([...units[0].nals[3]], [19 << 1, 1, 1, 2, 3, 4, 5], "the FU's NAL header rebuilt");
  // A TRAIL_N (type 0) and a TRAIL_R (1), each a single NAL unit: not a keyframe.
  d.push(parseRtp(rtpPacket(5, 6000, false, nal(0, 7)))!);
  d.push(parseRtp(rtpPacket(6, 6000, true, nal(1, 8)))!);
  assertEquals([units.length, units[1].keyframe, units[1].nals.map(type)], [2, false, [0, 1]]);
  // A CRA (21) is a keyframe too.
  d.push(parseRtp(rtpPacket(7, 9000, true, nal(21, 9)))!);
  assertEquals(units[2].keyframe, true);
  // A fragment lost (sequence 10 missing): the broken NAL is dropped, not passed on corrupt.
  d.push(parseRtp(rtpPacket(8, 12000, false, nal(1, 1)))!);
  d.push(parseRtp(rtpPacket(9, 12000, false, [49 << 1, 1, 0x80 | 1, 1]))!);
  d.push(parseRtp(rtpPacket(11, 12000, true, [49 << 1, 1, 0x40 | 1, 3]))!);
  assertEquals(units[3].nals.map((n) => [...n]), [[2, 1, 1]], "only the whole NAL unit");
  // PACI (50) is not taken; a payload shorter than its header is ignored.
  d.push(parseRtp(rtpPacket(12, 15000, false, [50 << 1, 1, 0, 0]))!);
  d.push(parseRtp(rtpPacket(13, 15000, true, [2]))!);
  assertEquals(units.length, 4);
});

Deno.test("h265 fmp4: hvc1 with the hvcC GStreamer's qtdemux reads from it", () => {
  const init = hevcInitSegment(VPS, SPS, PPS);
  assertEquals([init.codec, init.width, init.height], ["hvc1.1.6.L63.90", 320, 240]);
  const boxes = parseBoxes(init.bytes);
  const stsd = findBox(boxes, ["moov", "trak", "mdia", "minf", "stbl", "stsd"]).payload;
  const [hvc1] = parseBoxes(stsd.subarray(8));
  assertEquals(hvc1.type, "hvc1");
  const dv = new DataView(hvc1.payload.buffer, hvc1.payload.byteOffset);
  assertEquals([dv.getUint16(24), dv.getUint16(26)], [320, 240]);
  const [hvcC] = parseBoxes(hvc1.payload.subarray(78));
  assertEquals(hvcC.type, "hvcC");
  // h265parse's codec_data after qtdemux read a live clip of the test camera: the record's head.
  const head = "0101600000009000000000003ff000fcfdf8f800000f03";
  assertEquals(
    [...hvcC.payload.subarray(0, 23)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    head,
  );
  // Then the three arrays: complete (0x80), their type, one NAL unit each, its length and bytes.
  let off = 23;
  for (const n of [VPS, SPS, PPS]) {
    const a = hvcC.payload.subarray(off);
    assertEquals([a[0], (a[1] << 8) | a[2], (a[3] << 8) | a[4]], [0x80 | type(n), 1, n.length]);
    assertEquals([...a.subarray(5, 5 + n.length)], [...n]);
    off += 5 + n.length;
  }
  assertEquals(off, hvcC.payload.length);
});

Deno.test("h265 remuxer: waits for all three sets and a keyframe; samples keep no sets", () => {
  const segs: Segment[] = [];
  const inits: string[] = [];
  const r = new Remuxer((i) => inits.push(i.codec), (s) => segs.push(s), H265);
  const idr = nal(19, 0xaa, 0xbb);
  // SPS and PPS but no VPS (a camera whose SDP left it out, none in band yet): nothing yet.
  r.parameterSets(null, SPS, PPS);
  r.push({ timestamp: 0, nals: [idr], keyframe: true });
  assertEquals(inits, []);
  // In band, with an access-unit delimiter (35): the init segment, then pictures.
  const aud = nal(35, 0x50);
  r.push({ timestamp: 3000, nals: [aud, VPS, SPS, PPS, idr], keyframe: true });
  r.push({ timestamp: 6000, nals: [aud, nal(1, 0xcc)], keyframe: false });
  r.push({ timestamp: 9000, nals: [nal(1, 0xdd)], keyframe: false });
  assertEquals(inits, ["hvc1.1.6.L63.90"]);
  assertEquals(segs.map((s) => s.keyframe), [true, false]);
  const mdat = (s: Segment) => parseBoxes(s.bytes).find((b) => b.type === "mdat")!.payload;
  assertEquals([...mdat(segs[0])], [0, 0, 0, idr.length, ...idr], "the keyframe alone");
  assertEquals([...mdat(segs[1])], [0, 0, 0, 3, 2, 1, 0xcc]);
});
