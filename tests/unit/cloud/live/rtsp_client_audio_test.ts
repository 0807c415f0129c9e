// The live view's RTSP client and a camera's sound, against cameras speaking RTSP by hand on
// loopback: one that sets up its AAC track and says in PLAY's RTP-Info where both tracks are at
// one instant (the client hands that on before any packet, and the sound's packets, interleaved on
// their own channel, apart from the picture's); one that refuses the sound track (the picture plays
// without it); and an owner that asks for no sound (the track is not set up at all). Also: an H.265
// camera that sends decoding order numbers is refused in words before anything is set up, and a
// camera offering H.265 before H.264 has its H.264 track set up and played.
import { assert, assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import { AppError } from "../../../../src/shared/errors.ts";
import { RtspClient } from "../../../../src/cloud/live/rtsp_client.ts";
import type { RtpPacket } from "../../../../src/cloud/live/rtp_video.ts";
import { handRtspCamera } from "../../../_fixtures/hand_rtsp_camera.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
  "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n" +
  "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/16000/1\r\n" +
  "a=fmtp:97 streamtype=5;mode=AAC-hbr;config=1408;sizelength=13;indexlength=3;" +
  "indexdeltalength=3\r\na=control:track2\r\n";

/** An interleaved RTP packet on `channel` of payload type `pt` with `ts`. */
function frame(channel: number, pt: number, ts: number): Uint8Array {
  const b = new Uint8Array(4 + 12 + 2);
  b.set([0x24, channel, 0, 14, 0x80, pt]);
  new DataView(b.buffer).setUint32(8, ts);
  return b;
}

/**
 * A camera on loopback; `audioSetup` answers the SETUP of track2 (a status line and headers).
 * After PLAY (answered with RTP-Info for both tracks in the same write as the first packets), a
 * picture's packet on channel 0 and a sound's on channel 2.
 */
function camera(audioSetup: (transport: string) => string, sdp = SDP) {
  const setups: string[] = [];
  const cam = handRtspCamera(({ method, uri, cseq, header }) => {
    const transport = header("Transport");
    let answer = `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nSession: 9\r\n\r\n`;
    if (method === "DESCRIBE") {
      answer = `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Base: rtsp://cam/s/\r\n` +
        `Content-Length: ${sdp.length}\r\n\r\n${sdp}`;
    } else if (method === "SETUP") {
      setups.push(uri);
      answer = uri.endsWith("track2")
        ? audioSetup(transport).replace("\r\n", `\r\nCSeq: ${cseq}\r\n`)
        : `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nSession: 9\r\nTransport: ${transport}\r\n\r\n`;
    } else if (method === "PLAY") {
      answer = `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nSession: 9\r\n` +
        "RTP-Info: url=rtsp://cam/s/track1;seq=1;rtptime=900000," +
        "url=rtsp://cam/s/track2;seq=5;rtptime=160000\r\n\r\n";
    }
    const out = new TextEncoder().encode(answer);
    const packets = method === "PLAY"
      ? [frame(0, 96, 900_000), frame(2, 97, 160_000), frame(0, 96, 903_000)]
      : [];
    const all = new Uint8Array(out.length + packets.length * 18);
    all.set(out);
    packets.forEach((p, i) => all.set(p, out.length + i * 18));
    return all;
  });
  return { port: cam.port, setups, close: () => cam.close() };
}

/** Plays the camera and records what the client hands on, in order, until `packets` came. */
async function play(port: number, sound: boolean, packets: number) {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const events: string[] = [];
  const { promise, resolve } = Promise.withResolvers<void>();
  const seen = (what: string) => {
    events.push(what);
    if (events.filter((e) => e.startsWith("rtp") || e.startsWith("audio")).length === packets) {
      resolve();
    }
  };
  const client = new RtspClient(conn, {
    url: "rtsp://cam/s",
    credentials: () => Promise.resolve(null),
    onRtp: (p: RtpPacket) => seen(`rtp ${p.timestamp}`),
    ...(sound ? { onAudioRtp: (p: RtpPacket) => seen(`audio ${p.timestamp}`) } : {}),
    onTracks: (v, a) => seen(`tracks ${v.controlUrl} ${a?.controlUrl ?? "-"}`),
    onSync: (v, a) => seen(`sync ${v} ${a}`),
  });
  await client.start();
  const timer = setTimeout(resolve, 5_000);
  await promise;
  clearTimeout(timer);
  client.close();
  return { events, audio: client.audio };
}

Deno.test("RTSP client: a camera's AAC set up on its own channel; RTP-Info handed on before packets", async () => {
  const cam = camera((t) => `RTSP/1.0 200 OK\r\nSession: 9\r\nTransport: ${t}\r\n\r\n`);
  try {
    const { events, audio } = await play(cam.port, true, 3);
    assertEquals(cam.setups, ["rtsp://cam/s/track1", "rtsp://cam/s/track2"]);
    assertEquals(audio?.codec, "mp4a.40.2");
    assertEquals(events, [
      "tracks rtsp://cam/s/track1 rtsp://cam/s/track2",
      "sync 900000 160000",
      "rtp 900000",
      "audio 160000",
      "rtp 903000",
    ]);
  } finally {
    cam.close();
  }
});

Deno.test("RTSP client: a sound track the camera refuses leaves the picture playing", async () => {
  const cam = camera(() => "RTSP/1.0 461 Unsupported Transport\r\n\r\n");
  try {
    const { events, audio } = await play(cam.port, true, 2);
    assertEquals(audio, null);
    assertEquals(events, ["tracks rtsp://cam/s/track1 -", "rtp 900000", "rtp 903000"]);
  } finally {
    cam.close();
  }
});

Deno.test("RTSP client: no sound asked, none set up", async () => {
  const cam = camera(() => "RTSP/1.0 500 Not Expected\r\n\r\n");
  try {
    const { events, audio } = await play(cam.port, false, 2);
    assertEquals(cam.setups, ["rtsp://cam/s/track1"]);
    assertEquals(audio, null);
    assert(events.every((e) => !e.startsWith("sync") && !e.startsWith("audio")), events.join());
  } finally {
    cam.close();
  }
});

Deno.test("RTSP client: a camera listing an H.265 track before its H.264 one plays the H.264 one", async () => {
  const sdp = SDP.replace(
    "m=video",
    "m=video 0 RTP/AVP 95\r\na=rtpmap:95 H265/90000\r\na=control:track0\r\nm=video",
  );
  const cam = camera(() => "RTSP/1.0 500 Not Expected\r\n\r\n", sdp);
  try {
    const { events } = await play(cam.port, false, 2);
    assertEquals(cam.setups, ["rtsp://cam/s/track1"], "the H.264 track alone is set up");
    assertEquals(events, ["tracks rtsp://cam/s/track1 -", "rtp 900000", "rtp 903000"]);
  } finally {
    cam.close();
  }
});

Deno.test("RTSP client: an H.265 camera sending decoding order numbers is refused in words, nothing set up", async () => {
  const sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
    "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\n" +
    "a=fmtp:96 sprop-max-don-diff=2;sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwA/ugJA\r\n" +
    "a=control:track1\r\n";
  const methods: string[] = [];
  const cam = handRtspCamera(({ method, cseq }) => {
    methods.push(method);
    return method === "DESCRIBE"
      ? `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Base: rtsp://cam/s/\r\n` +
        `Content-Length: ${sdp.length}\r\n\r\n${sdp}`
      : `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nSession: 9\r\n\r\n`;
  });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
    const client = new RtspClient(conn, {
      url: "rtsp://cam/s",
      credentials: () => Promise.resolve(null),
      onRtp: () => {},
    });
    const err = await assertRejects(() => client.start());
    client.close();
    assert(err instanceof AppError, String(err));
    assertEquals([err.code, err.message], [
      "camera_refused",
      "the camera sends H.265 with decoding order numbers (sprop-max-don-diff), which the live " +
      "view does not play; use the RTSP URL",
    ]);
    assertEquals(methods, ["DESCRIBE"], "no SETUP, no PLAY");
  } finally {
    cam.close();
  }
});
