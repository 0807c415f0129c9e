// The live view's camera session against the real GStreamer camera (behind Digest auth, answered
// with the credentials the caller holds): RTSP over TCP interleaved, depacketized and remuxed to
// fMP4, which ffprobe decodes as H.264 at the camera's size. A second test: wrong credentials
// are refused with a clear message. A third: a camera that hangs (its process stopped, its
// connection open) ends the session with a reason the players show, instead of a frozen picture.
// A fourth: a recording asked as fast as the camera can send it (GStreamer's ONVIF server honours
// `Rate-Control: no`), held by its sink: nothing is read while held, for longer than the silence
// limit, without the session ending as silent; then it reads on. A fifth: the same recording played
// at 4× is paced, never delivered ahead of 4 times its own time. A sixth and a seventh: a camera
// that sends sound beside the picture (AAC; G.711, made FLAC) gives a file of both tracks that
// ffmpeg decodes whole, the sound timed with the picture (PLAY's RTP-Info) and a 440 Hz tone.
import { assert, assertEquals, assertStringIncludes } from "../../../_fixtures/assert.ts";
import {
  probeStreams,
  replayProxy,
  startCamera,
  type StreamProbe,
} from "../../../_fixtures/rtsp.ts";
import { type CameraFeedOptions, startCameraFeed } from "../../../../src/cloud/live/camera_feed.ts";
import type { Init, Segment } from "../../../../src/cloud/live/remuxer.ts";
import { concat } from "../../../../src/cloud/live/rtp_video.ts";
import { AppError } from "../../../../src/shared/errors.ts";
import { Pace } from "../../../../src/cloud/live/pace.ts";
import { parseBoxes, TIMESCALE } from "../../../../src/cloud/live/fmp4.ts";
import { until } from "../../../_fixtures/until.ts";

Deno.test("camera feed: Digest camera to fMP4 that ffprobe decodes", async () => {
  const cam = await startCamera({ digest: "camuser:Cam-Pa55word!" });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
    let init: Init | null = null;
    const segs: Segment[] = [];
    let enough!: () => void;
    const got = new Promise<void>((r) => (enough = r));
    const feed = await startCameraFeed(
      conn,
      `rtsp://127.0.0.1:${cam.port}${cam.path}`,
      () => Promise.resolve({ username: "camuser", password: "Cam-Pa55word!" }),
      {
        init: (i) => (init = i),
        segment: (s) => {
          segs.push(s);
          if (segs.length >= 40) enough();
        },
      },
    );
    const timer = setTimeout(enough, 30_000);
    await got;
    clearTimeout(timer);
    feed.close();
    assert(init, "init segment");
    const i = init as Init;
    assertEquals([i.width, i.height], [320, 240]);
    assert(/^avc1\.[0-9A-F]{6}$/.test(i.codec), i.codec);
    assert(segs[0].keyframe, "the stream starts at a keyframe");
    const file = await Deno.makeTempFile({ suffix: ".mp4" });
    await Deno.writeFile(file, concat([i.bytes, ...segs.map((s) => s.bytes)]));
    const { streams: [s], stderr: err } = await probeStreams(file);
    await Deno.remove(file);
    assertEquals([s.codec, s.width, s.height], ["h264", 320, 240], err);
    assertEquals(s.frames, segs.length, `every picture decodes: ${err}`);
  } finally {
    await cam.close();
  }
});

Deno.test("camera feed: wrong camera credentials are refused with a clear message", async () => {
  const cam = await startCamera({ digest: "camuser:Cam-Pa55word!" });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
    let err: unknown;
    try {
      await startCameraFeed(
        conn,
        `rtsp://127.0.0.1:${cam.port}${cam.path}`,
        () => Promise.resolve({ username: "camuser", password: "wrong" }),
        { init: () => {}, segment: () => {} },
      );
    } catch (e) {
      err = e;
    }
    assert(err instanceof AppError, String(err));
    assertEquals(err.code, "camera_refused");
    assertStringIncludes(err.message, "credentials");
  } finally {
    await cam.close();
  }
});

Deno.test("camera feed: a camera that stops sending pictures ends the session, saying so", async () => {
  const cam = await startCamera();
  let stopped = false;
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
    let segments = 0;
    const feed = await startCameraFeed(
      conn,
      `rtsp://127.0.0.1:${cam.port}${cam.path}`,
      () => Promise.resolve(null),
      { init: () => {}, segment: () => segments++ },
      { silenceMs: 1_500 },
    );
    let reason: string | null = null;
    feed.ended.then((r) => (reason = r));
    await until("pictures before the camera hangs", () => segments >= 5);
    // The camera hangs: its process stops, its TCP connection stays open, nothing arrives.
    Deno.kill(cam.pid, "SIGSTOP");
    stopped = true;
    await until("the session's end", () => reason !== null);
    assertEquals(reason, "no picture from the camera for 1.5 seconds");
  } finally {
    if (stopped) Deno.kill(cam.pid, "SIGCONT");
    await cam.close();
  }
});

Deno.test("camera feed: a recording sent as fast as the camera can, held by its sink, not silent while held", async () => {
  const cam = await startCamera({ recording: true });
  const replaying = replayProxy(cam.port, "/replay/rec1", cam.recordingPath!, { onvif: true });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: replaying.port });
    let segments = 0;
    let hold: PromiseWithResolvers<void> | null = null;
    const feed = await startCameraFeed(
      conn,
      `rtsp://127.0.0.1:${replaying.port}/replay/rec1`,
      () => Promise.resolve(null),
      {
        init: () => {},
        segment: () => segments++,
        hold: () => hold?.promise ?? null,
      },
      { silenceMs: 1_500, replayFrom: Date.UTC(2026, 11, 5, 18), fast: true },
    );
    let reason: string | null = null;
    feed.ended.then((r) => (reason = r));
    assertEquals(feed.fast, true, "the camera answered Rate-Control: no");
    assertEquals(replaying.requests.find((r) => r.method === "PLAY")?.rateControl, "no");
    await until("pictures", () => segments >= 30, 30_000, 5);
    hold = Promise.withResolvers<void>();
    // What was read before the hold is delivered; then nothing, for longer than the limit.
    await until("the hold reached", () => {
      const before = segments;
      return new Promise((r) => setTimeout(() => r(segments === before), 300));
    });
    const heldAt = segments;
    await new Promise((r) => setTimeout(r, 2_500));
    assertEquals(segments, heldAt, "nothing read while held");
    assertEquals(reason, null, "a held session is not a silent one");
    hold.resolve();
    hold = null;
    await until("reading on", () => segments > heldAt + 30, 30_000, 5);
    feed.close();
  } finally {
    await replaying.close();
    await cam.close();
  }
});

Deno.test("camera feed: a recording played at 4× is paced — never delivered ahead of 4 times its own time", async () => {
  const cam = await startCamera({ recording: true });
  const replaying = replayProxy(cam.port, "/replay/rec1", cam.recordingPath!, { onvif: true });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: replaying.port });
    let first: { decode: number; at: number } | null = null;
    let worst = -Infinity;
    let segments = 0;
    const feed = await startCameraFeed(
      conn,
      `rtsp://127.0.0.1:${replaying.port}/replay/rec1`,
      () => Promise.resolve(null),
      {
        init: () => {},
        segment: (s) => {
          segments++;
          first ??= { decode: s.decodeTime, at: performance.now() };
          // How far this picture is ahead of 4 times the time since the first (seconds).
          const media = (s.decodeTime - first.decode) / TIMESCALE;
          worst = Math.max(worst, media - 4 * (performance.now() - first.at) / 1000);
        },
      },
      { replayFrom: Date.UTC(2026, 11, 5, 18), pace: new Pace(4) },
    );
    assertEquals(feed.fast, true);
    assertEquals(replaying.requests.find((r) => r.method === "PLAY")?.rateControl, "no");
    // 12 s of the recording (the camera could send it in a fraction of a second).
    await until("12 s of the recording", () => segments >= 12 * 15, 30_000, 5);
    feed.close();
    // Ahead by no more than the lead (0.3 s at 4×) and a picture or two.
    assert(worst < 4 * 0.3 + 0.5, `a picture ${worst.toFixed(2)} s ahead of 4× its time`);
  } finally {
    await replaying.close();
    await cam.close();
  }
});

/** What a camera session with sound gave: its segments, and the file of them as ffmpeg read it. */
interface Heard {
  init: Init;
  pictures: Segment[];
  sound: Segment[];
  /** Frames of sound the segments hold (their trun samples). */
  soundFrames: number;
  video: StreamProbe;
  audio: StreamProbe;
  /** The sound's mean volume (dB), from ffmpeg's volumedetect. */
  meanDb: number;
}

/**
 * Plays `path` of GStreamer's camera `cam` until `seconds` of pictures came (each segment also
 * given to `seen`), closes it, and reads what came back as a file with ffprobe and ffmpeg.
 */
async function playWithSound(
  cam: { port: number },
  path: string,
  seconds: number,
  o: CameraFeedOptions & { seen?: (s: Segment) => void } = {},
): Promise<Heard> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
  let init: Init | null = null;
  const segs: Segment[] = [];
  const feed = await startCameraFeed(
    conn,
    `rtsp://127.0.0.1:${cam.port}${path}`,
    () => Promise.resolve({ username: "camuser", password: "Cam-Pa55word!" }),
    {
      init: (i) => (init = i),
      segment: (s) => {
        segs.push(s);
        o.seen?.(s);
      },
    },
    o,
  );
  // GStreamer's recording sends fast when asked (a pace asks it).
  assertEquals(feed.fast, o.fast === true || o.pace !== undefined);
  await until(
    `${seconds} s of pictures`,
    () => segs.filter((s) => !s.audio).length >= seconds * 15,
  );
  feed.close();
  assert(init, "init segment");
  const i = init as Init;
  const file = await Deno.makeTempFile({ suffix: ".mp4" });
  await Deno.writeFile(file, concat([i.bytes, ...segs.map((s) => s.bytes)]));
  try {
    const { streams, stderr } = await probeStreams(file);
    assertEquals(stderr, "", "ffprobe reads the file without an error");
    // The tone's loudness (a sine at GStreamer's default volume, 0.8: about -5 dB).
    const stats = await new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "info",
        "-nostats",
        "-i",
        file,
        "-map",
        "0:a",
        "-af",
        "volumedetect",
        "-f",
        "null",
        "-",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const sound = segs.filter((s) => s.audio);
    return {
      init: i,
      pictures: segs.filter((s) => !s.audio),
      sound,
      soundFrames: sound.reduce((n, s) => n + trunSamples(s.bytes), 0),
      video: streams.find((x) => x.type === "video")!,
      audio: streams.find((x) => x.type === "audio")!,
      meanDb: Number(
        /mean_volume: (-?[\d.]+) dB/.exec(new TextDecoder().decode(stats.stderr))?.[1],
      ),
    };
  } finally {
    await Deno.remove(file);
  }
}

/** Seconds of stream time of a segment's decode time. */
const sec = (s: Segment) => s.decodeTime / TIMESCALE;
/** The last segment's time. */
const lastOf = (l: Segment[]) => sec(l[l.length - 1]);

/** A camera sending a 440 Hz tone (`audio`) beside its picture, heard as `codec` at `rate`. */
async function soundBesideThePicture(
  audio: true | "pcmu" | "pcma",
  want: { mse: string; codec: string; rate: number },
): Promise<void> {
  const cam = await startCamera({ digest: "camuser:Cam-Pa55word!", audio });
  try {
    const h = await playWithSound(cam, cam.path, 3);
    assert(/^avc1\.[0-9A-F]{6},/.test(h.init.codec) && h.init.codec.endsWith("," + want.mse));
    assert(h.pictures[0].keyframe, "the stream starts at a keyframe");
    assert(h.sound.length >= 20, `sound segments: ${h.sound.length}`);
    // Sound and picture cover the same span of the stream's time: neither starts nor ends more
    // than half a second from the other.
    assert(sec(h.sound[0]) < 0.5, `sound starts at ${sec(h.sound[0])} s`);
    const [a, v] = [lastOf(h.sound), lastOf(h.pictures)];
    assert(Math.abs(a - v) < 0.5, `ends ${a} / ${v}`);
    assertEquals([h.video.codec, h.video.frames], ["h264", h.pictures.length]);
    assertEquals([h.audio.codec, h.audio.sampleRate, h.audio.channels], [want.codec, want.rate, 1]);
    assertEquals(h.audio.frames, h.soundFrames, "every sound frame decodes");
    assert(h.meanDb > -12 && h.meanDb < 0, `mean volume ${h.meanDb} dB`);
  } finally {
    await cam.close();
  }
}

Deno.test("camera feed: a camera's AAC sound beside the picture, timed with it, decodes whole", () =>
  soundBesideThePicture(true, { mse: "mp4a.40.2", codec: "aac", rate: 16000 }));

Deno.test("camera feed: a camera's G.711 sound made FLAC beside the picture, decodes whole", () =>
  soundBesideThePicture("pcmu", { mse: "flac", codec: "flac", rate: 8000 }));

/** How many samples a media segment's trun lists. */
function trunSamples(seg: Uint8Array): number {
  const moof = parseBoxes(seg).find((b) => b.type === "moof")!;
  const traf = moof.children!.find((b) => b.type === "traf")!;
  const trun = traf.children!.find((b) => b.type === "trun")!.payload;
  return new DataView(trun.buffer, trun.byteOffset + 4).getUint32(0);
}

Deno.test("camera feed: a recording's sound, played as it happened, with its pictures", async () => {
  const cam = await startCamera({ recording: true, audio: true });
  try {
    const from = Date.UTC(2026, 11, 5, 18);
    const h = await playWithSound(cam, cam.recordingPath!, 3, { replayFrom: from });
    assert(h.init.codec.endsWith(",mp4a.40.2"), h.init.codec);
    // Sound and pictures of the same stretch of the recording.
    const [a, v] = [lastOf(h.sound), lastOf(h.pictures)];
    assert(h.sound.length > 0 && Math.abs(a - v) < 0.5, `ends ${a} / ${v}`);
    assertEquals([h.audio.codec, h.audio.sampleRate], ["aac", 16000]);
    assertEquals(h.audio.frames, h.soundFrames);
  } finally {
    await cam.close();
  }
});

Deno.test("camera feed: a recording at 4× whose sound comes far ahead of its pictures: the pictures stay paced, both decode", async () => {
  // GStreamer's recording encodes its sound much faster than its pictures and sends each as made:
  // the sound arrives tens of seconds ahead, as no recorder's file would, but a camera may.
  const cam = await startCamera({ recording: true, audio: true });
  try {
    let first: { decode: number; at: number } | null = null;
    let worst = -Infinity;
    const h = await playWithSound(cam, cam.recordingPath!, 8, {
      replayFrom: Date.UTC(2026, 11, 5, 18),
      pace: new Pace(4),
      seen: (s) => {
        if (s.audio) return;
        first ??= { decode: s.decodeTime, at: performance.now() };
        const media = (s.decodeTime - first.decode) / TIMESCALE;
        worst = Math.max(worst, media - 4 * (performance.now() - first.at) / 1000);
      },
    });
    assert(worst < 4 * 0.3 + 0.5, `a picture ${worst.toFixed(2)} s ahead of 4× its time`);
    // Everything handed on is in the file, and decodes: nothing came after the close.
    assertEquals(h.video.frames, h.pictures.length);
    assertEquals(h.audio.frames, h.soundFrames);
  } finally {
    await cam.close();
  }
});
