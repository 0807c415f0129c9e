// The RTSP bench's packet checker (bench/rtp_check.ts) counts what a decoder would choke on:
// a clean H.264 RTP stream has no problem, and each kind of damage is counted.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { RtpH264Check } from "../../../bench/rtp_check.ts";

/** One RTP packet: version 2, payload type 96. */
function rtp(seq: number, ts: number, marker: boolean, payload: number[]): Uint8Array {
  const p = new Uint8Array(12 + payload.length);
  p[0] = 0x80;
  p[1] = (marker ? 0x80 : 0) | 96;
  new DataView(p.buffer).setUint16(2, seq & 0xffff);
  new DataView(p.buffer).setUint32(4, ts >>> 0);
  p.set(payload, 12);
  return p;
}

/**
 * One access unit as a packetizer sends it: SPS + PPS in a STAP-A (keyframes only), then the
 * picture's slice in three FU-A fragments, the last with the marker bit.
 */
function accessUnit(seq: number, ts: number, idr: boolean): Uint8Array[] {
  const type = idr ? 5 : 1;
  const out: Uint8Array[] = [];
  if (idr) out.push(rtp(seq++, ts, false, [24, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xce]));
  out.push(rtp(seq++, ts, false, [0x7c, 0x80 | type, 1, 2, 3]));
  out.push(rtp(seq++, ts, false, [0x7c, type, 4, 5, 6]));
  out.push(rtp(seq++, ts, true, [0x7c, 0x40 | type, 7, 8]));
  return out;
}

/** A stream of `frames` access units, a keyframe every `gop`, starting at sequence `seq`. */
function stream(frames: number, gop = 5, seq = 65_530): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let f = 0; f < frames; f++) {
    const au = accessUnit(seq, 1000 + f * 6000, f % gop === 0);
    seq += au.length;
    out.push(...au);
  }
  return out;
}

Deno.test("a clean stream: every frame counted, nothing lost or malformed, across the 16-bit wrap", () => {
  const c = new RtpH264Check();
  const packets = stream(12);
  for (const p of packets) c.packet(p);
  assertEquals(c.counts.frames, 12);
  assertEquals(c.counts.keyframes, 3);
  assertEquals(c.counts.lost, 0);
  assertEquals(c.counts.malformed, 0);
  assertEquals(c.counts.firstProblem, null);
  assertEquals(c.counts.packets, packets.length);
  assertEquals(c.counts.bytes, packets.reduce((s, p) => s + p.length, 0));
});

Deno.test("joined mid-stream: frames count from the first keyframe; a leading fragment is no error", () => {
  const c = new RtpH264Check();
  const packets = stream(10).slice(3); // starts inside the first picture's FU-A
  for (const p of packets) c.packet(p);
  assertEquals(c.counts.malformed, 0);
  assertEquals(c.counts.lost, 0);
  assertEquals(c.counts.frames, 5); // frames 5..9; 1..4 are not decodable without a keyframe
});

Deno.test("a lost packet is counted with where it happened, and the stream resynchronises", () => {
  const c = new RtpH264Check();
  const packets = stream(10);
  packets.splice(5, 1); // the middle FU-A fragment of the second picture
  for (const p of packets) c.packet(p);
  assertEquals(c.counts.lost, 1);
  assertEquals(c.counts.malformed, 0);
  assertEquals(c.counts.frames, 9); // the damaged picture is not counted; the rest are
  assert(/^1 RTP packet\(s\) lost before sequence/.test(c.counts.firstProblem ?? ""));
});

Deno.test("damaged packetization is counted as malformed", () => {
  const cases: [string, (ps: Uint8Array[]) => void, RegExp][] = [
    ["forbidden bit", (ps) => (ps[5][12] |= 0x80), /forbidden bit/],
    ["STAP-A sizes", (ps) => (ps[0][14] = 40), /STAP-A sizes/],
    ["FU-A continued without a start", (ps) => (ps[4][13] &= 0x7f), /FU-A continued without/],
    ["FU-A started twice", (ps) => (ps[2][13] |= 0x80), /FU-A started before/],
    ["FU-A type changes", (ps) => (ps[2][13] = (ps[2][13] & 0xe0) | 1), /FU-A changed/],
    ["not RTP", (ps) => (ps[3][0] = 0x40), /not an RTP version 2/],
    ["reserved NAL type", (ps) => (ps[5][12] = 0x1d), /NAL unit type 29/],
    ["marker missing", (ps) => (ps[3][1] &= 0x7f), /timestamp changed before/],
  ];
  for (const [name, damage, why] of cases) {
    const c = new RtpH264Check();
    const packets = stream(6);
    damage(packets);
    for (const p of packets) c.packet(p);
    assert(c.counts.malformed >= 1, `${name}: ${JSON.stringify(c.counts)}`);
    assert(why.test(c.counts.firstProblem ?? ""), `${name}: ${c.counts.firstProblem}`);
  }
});

Deno.test("a sequence number going back is malformed, not a huge loss", () => {
  const c = new RtpH264Check();
  const packets = stream(4, 5, 100);
  for (const p of packets) c.packet(p);
  c.packet(packets[2]);
  assertEquals(c.counts.lost, 0);
  assertEquals(c.counts.malformed, 1);
});
