// The live view's pure parts: RTP H.264 depacketization (single NAL, STAP-A, FU-A, a lost
// fragment), SPS parsing for the MSE codec string, and the fMP4 boxes read back.
import { findBox, rtpPacket } from "../../../_fixtures/rtp_packets.ts";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  type AccessUnit,
  NalDepacketizer,
  parseRtp,
} from "../../../../src/cloud/live/rtp_video.ts";
import { H264 } from "../../../../src/cloud/live/nal_format.ts";
import { parseSps } from "../../../../src/cloud/live/h264_sps.ts";
import { unescapeRbsp } from "../../../../src/cloud/live/rbsp.ts";
import { initSegment, mediaSegment, parseBoxes } from "../../../../src/cloud/live/fmp4.ts";
import { Remuxer, type Segment } from "../../../../src/cloud/live/remuxer.ts";

// x264 baseline SPS/PPS for 320x240 (as the GStreamer fixture sends them).
const SPS = new Uint8Array([
  0x67,
  0x42,
  0xc0,
  0x0d,
  0xda,
  0x05,
  0x07,
  0xe8,
  0x40,
  0x00,
  0x00,
  0x03,
  0x00,
  0x40,
  0x00,
  0x00,
  0x0f,
  0x03,
  0xc5,
  0x0a,
  0xa8,
]);
const PPS = new Uint8Array([0x68, 0xce, 0x0f, 0xc8]);

Deno.test("rtp: header fields, CSRC and padding", () => {
  const b = rtpPacket(7, 1000, true, [0x65, 1, 2, 3]);
  const p = parseRtp(b)!;
  assertEquals([p.payloadType, p.marker, p.sequence, p.timestamp], [96, true, 7, 1000]);
  assertEquals([...p.payload], [0x65, 1, 2, 3]);
  const padded = rtpPacket(8, 1, false, [0x41, 9, 0, 2]);
  padded[0] |= 0x20;
  assertEquals([...parseRtp(padded)!.payload], [0x41, 9]);
  assertEquals(parseRtp(new Uint8Array(5)), null);
  assertEquals(parseRtp(new Uint8Array(12)), null, "version 0 is not RTP");
});

Deno.test("h264 depacketizer: single NAL, STAP-A, FU-A and a lost fragment", () => {
  const units: AccessUnit[] = [];
  const d = new NalDepacketizer(H264, (au) => units.push(au));
  // STAP-A with SPS + PPS, then an IDR in three FU-A fragments, marker on the last.
  const stap = [0x78, 0, SPS.length, ...SPS, 0, PPS.length, ...PPS];
  d.push(parseRtp(rtpPacket(1, 3000, false, stap))!);
  d.push(parseRtp(rtpPacket(2, 3000, false, [0x7c, 0x85, 1, 2]))!);
  d.push(parseRtp(rtpPacket(3, 3000, false, [0x7c, 0x05, 3, 4]))!);
  d.push(parseRtp(rtpPacket(4, 3000, true, [0x7c, 0x45, 5]))!);
  assertEquals(units.length, 1);
  assertEquals(units[0].keyframe, true);
  assertEquals(units[0].nals.map((n) => n[0] & 0x1f), [7, 8, 5]);
  assertEquals([...units[0].nals[2]], [0x65, 1, 2, 3, 4, 5], "FU header rebuilt into a NAL header");
  // A single-NAL P picture.
  d.push(parseRtp(rtpPacket(5, 6000, true, [0x41, 7, 7]))!);
  assertEquals(units.length, 2);
  assertEquals(units[1].keyframe, false);
  // A fragment lost (sequence 7 missing): the broken NAL is dropped, not passed on corrupt.
  d.push(parseRtp(rtpPacket(6, 9000, false, [0x5c, 0x81, 1]))!);
  d.push(parseRtp(rtpPacket(8, 9000, true, [0x5c, 0x41, 3]))!);
  assertEquals(units.length, 2, "nothing complete in the damaged picture");
  d.push(parseRtp(rtpPacket(9, 12000, true, [0x41, 8]))!);
  assertEquals(units.length, 3);
  assertEquals(units[2].timestamp, 12000);
});

Deno.test("sps: size and codec string; emulation prevention removed", () => {
  const info = parseSps(SPS);
  assertEquals([info.width, info.height, info.codec], [320, 240, "avc1.42C00D"]);
  assertEquals([...unescapeRbsp(new Uint8Array([0, 0, 3, 1, 0, 0, 3]))], [0, 0, 1, 0, 0]);
});

Deno.test("fmp4: init segment and media segment parse back with the right fields", () => {
  const init = initSegment(SPS, PPS);
  assertEquals(init.codec, "avc1.42C00D");
  const boxes = parseBoxes(init.bytes);
  assertEquals(boxes.map((b) => b.type), ["ftyp", "moov"]);
  const mdhd = findBox(boxes, ["moov", "trak", "mdia", "mdhd"]).payload;
  assertEquals(new DataView(mdhd.buffer, mdhd.byteOffset).getUint32(12), 90_000);
  const stsd = findBox(boxes, ["moov", "trak", "mdia", "minf", "stbl", "stsd"]).payload;
  const avc1 = parseBoxes(stsd.subarray(8));
  assertEquals(avc1[0].type, "avc1");
  const dv = new DataView(avc1[0].payload.buffer, avc1[0].payload.byteOffset);
  assertEquals([dv.getUint16(24), dv.getUint16(26)], [320, 240]);
  const avcC = parseBoxes(avc1[0].payload.subarray(78));
  assertEquals(avcC[0].type, "avcC");
  assertEquals([...avcC[0].payload.subarray(8, 8 + SPS.length)], [...SPS]);
  assert(findBox(boxes, ["moov", "mvex", "trex"]));

  const nals = [new Uint8Array([0x09, 0xf0]), SPS, PPS, new Uint8Array([0x65, 1, 2, 3])];
  const seg = mediaSegment(5, 2 ** 33 + 10, 6000, nals, true);
  const mb = parseBoxes(seg);
  assertEquals(mb.map((b) => b.type), ["moof", "mdat"]);
  const tfdt = findBox(mb, ["moof", "traf", "tfdt"]).payload;
  assertEquals(new DataView(tfdt.buffer, tfdt.byteOffset).getBigUint64(4), 2n ** 33n + 10n);
  const trun = findBox(mb, ["moof", "traf", "trun"]).payload;
  const t = new DataView(trun.buffer, trun.byteOffset);
  const moofSize = mb[0].payload.length + 8;
  assertEquals(t.getUint32(4), 1, "one sample");
  assertEquals(t.getUint32(8), moofSize + 8, "data offset points into mdat");
  assertEquals(t.getUint32(12), 6000);
  const mdat = mb[1].payload;
  assertEquals(t.getUint32(16), mdat.length);
  assertEquals(t.getUint32(20), 0x02000000, "sync sample");
  // Length-prefixed NALs, the access-unit delimiter left out.
  assertEquals(new DataView(mdat.buffer, mdat.byteOffset).getUint32(0), SPS.length);
  assertEquals(mdat.length, 4 + SPS.length + 4 + PPS.length + 4 + 4);
});

Deno.test("remuxer: starts at a keyframe, durations from timestamps across wrap-around", () => {
  const segs: Segment[] = [];
  let inits = 0;
  const r = new Remuxer(() => inits++, (s) => segs.push(s));
  const p = (ts: number) => ({
    timestamp: ts >>> 0,
    nals: [new Uint8Array([0x41, 1])],
    keyframe: false,
  });
  r.push(p(1)); // before any keyframe: dropped
  r.push({
    timestamp: 2 ** 32 - 3000,
    nals: [SPS, PPS, new Uint8Array([0x65, 1])],
    keyframe: true,
  });
  r.push(p(0));
  r.push(p(3000));
  assertEquals(inits, 1);
  assertEquals(segs.map((s) => s.keyframe), [true, false]);
  const durations = segs.map((s) => {
    const trun = findBox(parseBoxes(s.bytes), ["moof", "traf", "trun"]).payload;
    return new DataView(trun.buffer, trun.byteOffset).getUint32(12);
  });
  assertEquals(durations, [3000, 3000]);
});
