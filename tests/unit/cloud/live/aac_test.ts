// A camera's AAC sound in the live view: the SDP's MPEG4-GENERIC track (as GStreamer's RTSP
// server announces it), RFC 3640 depacketization (several frames a packet, a frame in fragments,
// a lost fragment), the second track of the fMP4 read back (and by ffprobe), and the remuxer's
// timing of sound against the picture from PLAY's RTP-Info.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { parseAudioSdp, parseSdp } from "../../../../src/cloud/live/sdp.ts";
import {
  AAC_FRAME_SAMPLES,
  AacDepacketizer,
  type AudioFrames,
} from "../../../../src/cloud/live/rtp_aac.ts";
import { parseRtp } from "../../../../src/cloud/live/rtp_video.ts";
import {
  audioSegment,
  initSegment,
  parseBoxes,
  type ParsedBox,
} from "../../../../src/cloud/live/fmp4.ts";
import { Remuxer, type Segment } from "../../../../src/cloud/live/remuxer.ts";
import { probeStreams } from "../../../_fixtures/rtsp.ts";

const SDP = [
  "v=0",
  "o=- 2574072817788475051 1 IN IP4 127.0.0.1",
  "s=Session streamed with GStreamer",
  "t=0 0",
  "a=control:*",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LADdoFB+hAAAADAEAAAA8DxQqo,aM4PyA==",
  "a=control:stream=0",
  "m=audio 0 RTP/AVP 97",
  "a=rtpmap:97 MPEG4-GENERIC/16000/1",
  "a=fmtp:97 streamtype=5;profile-level-id=2;mode=AAC-hbr;config=1408;sizelength=13;" +
  "indexlength=3;indexdeltalength=3",
  "a=control:stream=1",
  "",
].join("\r\n");
const BASE = "rtsp://127.0.0.1:8554/live/cam1/";

// x264 baseline SPS/PPS for 320x240 (as the GStreamer fixture sends them).
const SPS = Uint8Array.from(atob("Z0LADdoFB+hAAAADAEAAAA8DxQqo"), (c) => c.charCodeAt(0));
const PPS = Uint8Array.from(atob("aM4PyA=="), (c) => c.charCodeAt(0));

/** An RTP packet of payload type 97. */
function rtp(seq: number, ts: number, marker: boolean, payload: Uint8Array) {
  const b = new Uint8Array(12 + payload.length);
  b[0] = 0x80;
  b[1] = (marker ? 0x80 : 0) | 97;
  new DataView(b.buffer).setUint16(2, seq);
  new DataView(b.buffer).setUint32(4, ts);
  b.set(payload, 12);
  return parseRtp(b)!;
}

/** An RFC 3640 AAC-hbr payload: AU headers (13-bit size, 3-bit index) for `sizes`, then `data`. */
function hbr(sizes: number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + sizes.length * 2 + data.length);
  out[0] = (sizes.length * 16) >> 8;
  out[1] = (sizes.length * 16) & 0xff;
  sizes.forEach((s, i) => {
    out[2 + i * 2] = s >> 5;
    out[3 + i * 2] = (s & 0x1f) << 3;
  });
  out.set(data, 2 + sizes.length * 2);
  return out;
}

function bytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

function find(boxes: ParsedBox[], path: string[]): ParsedBox[] {
  let list = boxes;
  let found: ParsedBox[] = [];
  for (const t of path) {
    found = list.filter((b) => b.type === t);
    assert(found.length, `box ${t} of ${path.join("/")}`);
    list = found[0].children ?? [];
  }
  return found;
}

Deno.test("sdp: the AAC track beside the picture, with its config and AU layout", () => {
  assertEquals(parseSdp(SDP, BASE)?.controlUrl, BASE + "stream=0");
  const a = parseAudioSdp(SDP, BASE);
  assert(a?.encoding === "aac");
  assertEquals(a.controlUrl, BASE + "stream=1");
  assertEquals([a.payloadType, a.rate, a.channels, a.codec], [97, 16000, 1, "mp4a.40.2"]);
  assertEquals([...a.config], [0x14, 0x08]);
  assertEquals([a.sizeLength, a.indexLength, a.indexDeltaLength], [13, 3, 3]);
  // LATM and G.726 are not offered to the browser; a config that is not hex is not either.
  assertEquals(parseAudioSdp(SDP.replace("MPEG4-GENERIC", "MP4A-LATM"), BASE), null);
  assertEquals(parseAudioSdp(SDP.replace("MPEG4-GENERIC/16000/1", "G726-32/8000"), BASE), null);
  assertEquals(parseAudioSdp(SDP.replace("config=1408", "config=zz"), BASE), null);
  assertEquals(parseAudioSdp(SDP.replace("mode=AAC-hbr", "mode=generic"), BASE), null);
  assertEquals(parseAudioSdp(SDP.replace(/m=audio[^]*$/, ""), BASE), null);
});

Deno.test("sdp: G.711 sound (PCMU, PCMA, by rtpmap or static payload type), AAC preferred", () => {
  const pcmu = parseAudioSdp(SDP.replace("MPEG4-GENERIC/16000/1", "PCMU/8000"), BASE);
  assertEquals(
    [pcmu?.encoding, pcmu?.codec, pcmu?.rate, pcmu?.channels, pcmu?.controlUrl],
    ["pcmu", "flac", 8000, 1, BASE + "stream=1"],
  );
  // Static payload types need no rtpmap: 0 is PCMU/8000, 8 is PCMA/8000.
  const bare = (pt: number) =>
    SDP.replace(/m=audio[^]*$/, `m=audio 0 RTP/AVP ${pt}\r\na=control:stream=1\r\n`);
  assertEquals(parseAudioSdp(bare(0), BASE)?.encoding, "pcmu");
  assertEquals(parseAudioSdp(bare(8), BASE)?.encoding, "pcma");
  assertEquals(parseAudioSdp(bare(9), BASE), null); // G.722
  const stereo = parseAudioSdp(SDP.replace("MPEG4-GENERIC/16000/1", "PCMA/16000/2"), BASE);
  assertEquals([stereo?.encoding, stereo?.rate, stereo?.channels], ["pcma", 16000, 2]);
  // A camera offering both: AAC is played (smaller, and as the camera made it).
  const both = SDP.replace("m=audio", "m=audio 0 RTP/AVP 0\r\na=control:stream=2\r\nm=audio");
  assertEquals(parseAudioSdp(both, BASE)?.encoding, "aac");
});

Deno.test("aac depacketizer: frames of a packet, a frame in fragments, a lost fragment", () => {
  const got: AudioFrames[] = [];
  const d = new AacDepacketizer({ sizeLength: 13, indexLength: 3, indexDeltaLength: 3 }, (f) => {
    got.push(f);
  });
  // Two frames in one packet.
  d.push(rtp(1, 1000, true, hbr([3, 2], Uint8Array.of(1, 2, 3, 4, 5))));
  assertEquals(got.map((f) => [f.timestamp, f.frames.map((x) => [...x])]), [
    [1000, [[1, 2, 3], [4, 5]]],
  ]);
  // A frame of 300 bytes in three packets: the header gives the whole size each time.
  got.length = 0;
  d.push(rtp(2, 2024, false, hbr([300], bytes(100, 7))));
  d.push(rtp(3, 2024, false, hbr([300], bytes(100, 8))));
  assertEquals(got.length, 0);
  d.push(rtp(4, 2024, true, hbr([300], bytes(100, 9))));
  assertEquals(got.length, 1);
  assertEquals(got[0].frames[0].length, 300);
  assertEquals([got[0].frames[0][0], got[0].frames[0][150], got[0].frames[0][299]], [7, 8, 9]);
  // The middle fragment lost: that frame is dropped, the next whole packet is not.
  got.length = 0;
  d.push(rtp(5, 3048, false, hbr([300], bytes(100, 1))));
  d.push(rtp(7, 3048, true, hbr([300], bytes(100, 3))));
  d.push(rtp(8, 4072, true, hbr([4], bytes(4, 4))));
  assertEquals(got.map((f) => [f.timestamp, f.frames.length]), [[4072, 1]]);
  // A header that claims more than the packet holds hands on what is whole only.
  got.length = 0;
  d.push(rtp(9, 5096, true, hbr([2, 9], bytes(4, 5))));
  assertEquals(got.map((f) => f.frames.map((x) => x.length)), [[2]]);
  d.push(rtp(10, 6120, true, Uint8Array.of(0xff)));
  assertEquals(got.length, 1);
});

Deno.test("fmp4: a sound track beside the picture, read back and by ffprobe", async () => {
  const audio = { rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" };
  const init = initSegment(SPS, PPS, audio);
  assertEquals(init.codec, "avc1.42C00D,mp4a.40.2");
  const boxes = parseBoxes(init.bytes);
  const traks = find(boxes, ["moov", "trak"]);
  assertEquals(traks.length, 2);
  assertEquals(find(boxes, ["moov", "mvex", "trex"]).length, 2);
  const hdlr = find(traks[1].children!, ["mdia", "hdlr"])[0];
  assertEquals(new TextDecoder().decode(hdlr.payload.subarray(8, 12)), "soun");
  const mdhd = find(traks[1].children!, ["mdia", "mdhd"])[0];
  assertEquals(new DataView(mdhd.payload.buffer, mdhd.payload.byteOffset).getUint32(12), 16000);
  // Without sound, the init segment is as it was: one track.
  assertEquals(find(parseBoxes(initSegment(SPS, PPS).bytes), ["moov", "trak"]).length, 1);

  const seg = audioSegment(5, 2048, [bytes(10, 1), bytes(12, 2)], AAC_FRAME_SAMPLES);
  const parsed = parseBoxes(seg);
  const trun = find(parsed, ["moof", "traf", "trun"])[0].payload;
  const dv = new DataView(trun.buffer, trun.byteOffset, trun.byteLength);
  assertEquals(dv.getUint32(4), 2); // samples
  assertEquals([dv.getUint32(12), dv.getUint32(16)], [10, 12]);
  assertEquals(find(parsed, ["mdat"])[0].payload.length, 22);

  const file = await Deno.makeTempFile({ suffix: ".mp4" });
  try {
    const all = new Uint8Array(init.bytes.length + seg.length);
    all.set(init.bytes);
    all.set(seg, init.bytes.length);
    await Deno.writeFile(file, all);
    const { streams } = await probeStreams(file);
    assertEquals(
      streams.map((x) => [x.type, x.codec, x.width ?? x.sampleRate, x.channels]).sort(),
      [["audio", "aac", 16000, 1], ["video", "h264", 320, undefined]],
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("remuxer: sound timed against the picture by RTP-Info, before the picture left out", () => {
  const segs: Segment[] = [];
  const r = new Remuxer(() => {}, (s) => segs.push(s));
  r.parameterSets(SPS, PPS);
  r.audioTrack({ rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" });
  // At one instant the picture's RTP time is 90 000 and the sound's 500 000.
  r.sync(90_000, 500_000);
  const idr = {
    timestamp: 90_000 + 9_000,
    nals: [SPS, PPS, Uint8Array.of(0x65, 1)],
    keyframe: true,
  };
  // Sound from before the first picture's instant is left out (it came before it, too).
  r.pushAudio({ timestamp: 500_000, frames: [bytes(4, 1)], frameSamples: AAC_FRAME_SAMPLES });
  r.push(idr);
  // The first picture is 0.1 s after the instant: sound from 0.05 s after it (1 600 samples at
  // 16 kHz: its first frame is before the picture, dropped; the second is 0.014 s after it).
  r.pushAudio({
    timestamp: 500_000 + 800,
    frames: [bytes(4, 2), bytes(4, 3)],
    frameSamples: AAC_FRAME_SAMPLES,
  });
  r.pushAudio({
    timestamp: 500_000 + 800 + 2 * AAC_FRAME_SAMPLES,
    frames: [bytes(4, 4)],
    frameSamples: AAC_FRAME_SAMPLES,
  });
  r.push({ timestamp: 90_000 + 9_000 + 6_000, nals: [Uint8Array.of(0x41, 1)], keyframe: false });
  const sound = segs.filter((s) => s.audio);
  assertEquals(sound.length, 2);
  // 800 + 1024 − 1600 = 224 samples in: 14 ms = 1 260 ticks of 90 kHz.
  assertEquals(sound.map((s) => s.decodeTime), [1260, 1260 + 5760]);
  const tfdt = (s: Segment) => {
    const p = find(parseBoxes(s.bytes), ["moof", "traf", "tfdt"])[0].payload;
    return Number(new DataView(p.buffer, p.byteOffset).getBigUint64(4));
  };
  assertEquals(sound.map(tfdt), [224, 224 + 1024]);
  assertEquals(sound.every((s) => !s.keyframe), true);
  // The picture's own segment is unchanged: decode time 0, a keyframe.
  assertEquals(segs.filter((s) => !s.audio).map((s) => [s.decodeTime, s.keyframe]), [[0, true]]);
});

Deno.test("remuxer: sound that comes before the first picture (a recording's, sent ahead) is placed by RTP-Info once it comes", () => {
  const segs: Segment[] = [];
  const r = new Remuxer(() => {}, (s) => segs.push(s));
  r.parameterSets(SPS, PPS);
  r.audioTrack({ rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" });
  r.sync(90_000, 500_000);
  // Two seconds of sound (16 000 samples a second) arrive before any picture: the first packet
  // from the instant (before the picture, left out), then 0.1 s on, then 1 s on.
  for (const at of [0, 1600, 16_000]) {
    r.pushAudio({
      timestamp: 500_000 + at,
      frames: [bytes(4, 1), bytes(4, 2)],
      frameSamples: AAC_FRAME_SAMPLES,
    });
  }
  assertEquals(segs.length, 0, "nothing before the first picture");
  r.push({ timestamp: 90_000 + 9_000, nals: [SPS, PPS, Uint8Array.of(0x65, 1)], keyframe: true });
  // The picture is 0.1 s (1 600 samples) after the instant: the kept sound is placed from there.
  assertEquals(
    segs.filter((s) => s.audio).map((s) => s.decodeTime),
    [0, Math.round(((16_000 - 1600) / 16_000) * 90_000)],
  );
  // Without RTP-Info nothing places early sound: it is dropped, as live cameras' is.
  const live: Segment[] = [];
  const q = new Remuxer(() => {}, (s) => live.push(s));
  q.parameterSets(SPS, PPS);
  q.audioTrack({ rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" });
  q.pushAudio({ timestamp: 7, frames: [bytes(4, 1)], frameSamples: AAC_FRAME_SAMPLES });
  q.push({ timestamp: 1000, nals: [Uint8Array.of(0x65, 1)], keyframe: true });
  assertEquals(live.filter((s) => s.audio).length, 0);
});

Deno.test("remuxer: without RTP-Info the first sound is taken as the picture's present", () => {
  const segs: Segment[] = [];
  const r = new Remuxer(() => {}, (s) => segs.push(s));
  r.parameterSets(SPS, PPS);
  r.audioTrack({ rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" });
  r.push({ timestamp: 1000, nals: [Uint8Array.of(0x65, 1)], keyframe: true });
  r.push({ timestamp: 1000 + 9000, nals: [Uint8Array.of(0x41, 1)], keyframe: false });
  r.pushAudio({ timestamp: 7, frames: [bytes(4, 1)], frameSamples: AAC_FRAME_SAMPLES });
  r.pushAudio({
    timestamp: 7 + AAC_FRAME_SAMPLES,
    frames: [bytes(4, 1)],
    frameSamples: AAC_FRAME_SAMPLES,
  });
  assertEquals(segs.filter((s) => s.audio).map((s) => s.decodeTime), [9000, 9000 + 5760]);
  // A remuxer told of no sound ignores it.
  const none: Segment[] = [];
  const q = new Remuxer(() => {}, (s) => none.push(s));
  q.parameterSets(SPS, PPS);
  q.push({ timestamp: 1, nals: [Uint8Array.of(0x65, 1)], keyframe: true });
  q.pushAudio({ timestamp: 7, frames: [bytes(4, 1)], frameSamples: AAC_FRAME_SAMPLES });
  assertEquals(none.length, 0);
});

Deno.test("sound from a hostile camera: random packets and SDPs throw nothing", () => {
  // A seeded generator: the same packets every run.
  let seed = 0x5eed;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const segs: Segment[] = [];
  const r = new Remuxer(() => {}, (s) => segs.push(s));
  r.parameterSets(SPS, PPS);
  r.audioTrack({ rate: 16000, channels: 1, config: Uint8Array.of(0x14, 0x08), codec: "mp4a.40.2" });
  r.push({ timestamp: 0, nals: [Uint8Array.of(0x65, 1)], keyframe: true });
  for (const layout of [[13, 3, 3], [6, 2, 2], [16, 0, 0], [1, 7, 7]]) {
    const [sizeLength, indexLength, indexDeltaLength] = layout;
    const d = new AacDepacketizer(
      { sizeLength, indexLength, indexDeltaLength },
      (f) => r.pushAudio(f),
    );
    for (let i = 0; i < 3000; i++) {
      const payload = Uint8Array.from({ length: rand(64) }, () => rand(256));
      d.push(rtp(rand(65536), rand(2 ** 31) * 2, rand(2) === 1, payload));
    }
  }
  for (let i = 0; i < 500; i++) {
    const junk = Array.from({ length: rand(300) }, () => String.fromCharCode(32 + rand(95))).join(
      "",
    );
    parseAudioSdp(SDP.replace("config=1408", junk), BASE);
    parseAudioSdp(SDP.replace("MPEG4-GENERIC/16000/1", junk), BASE);
  }
  assert(segs.length > 0, "some of it made whole frames");
});
