// The live view's fan-out: one camera session per key whatever the number of viewers, joiners
// start at the last keyframe (with the sound for its instant on, even what came before it), a slow viewer skips to the next keyframe instead of queueing, the
// last viewer leaving closes the camera session, and a camera that cannot be opened fails the
// join and leaves nothing behind.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  FAILURE_MEMORY_MS,
  type FeedSink,
  LiveHub,
  SLOW_VIEWER_BYTES,
  type Viewer,
} from "../../../../src/cloud/live/hub.ts";
import type { Init, Segment } from "../../../../src/cloud/live/remuxer.ts";
import { AppError } from "../../../../src/shared/errors.ts";

const INIT: Init = { bytes: new Uint8Array([0]), codec: "avc1.42C00D", width: 320, height: 240 };
const seg = (n: number, keyframe: boolean, arrivedMs?: number) => ({
  bytes: new Uint8Array([n]),
  keyframe,
  decodeTime: n * 9000,
  arrivedMs,
});

class TestViewer implements Viewer {
  got: number[] = [];
  inits = 0;
  queued = 0;
  closed: string | null = null;
  init() {
    this.inits++;
  }
  send(s: Segment) {
    this.got.push(s.bytes[0]);
  }
  buffered() {
    return this.queued;
  }
  close(reason: string) {
    this.closed = reason;
  }
}

function camera() {
  let sink!: FeedSink;
  let opens = 0;
  let closes = 0;
  let end!: (r: string) => void;
  const open = (s: FeedSink) => {
    opens++;
    sink = s;
    return Promise.resolve({
      ended: new Promise<string>((r) => (end = r)),
      close: () => void closes++,
    });
  };
  return {
    open,
    sink: () => sink,
    opens: () => opens,
    closes: () => closes,
    end: (r: string) => end(r),
  };
}

Deno.test("hub: one camera session, joiners start at the last keyframe", async () => {
  const hub = new LiveHub();
  const cam = camera();
  const a = new TestViewer();
  const fa = await hub.acquire("h /s", cam.open);
  fa.attach(a);
  cam.sink().init(INIT);
  for (const [n, k] of [[1, true], [2, false], [3, false]] as const) cam.sink().segment(seg(n, k));
  const b = new TestViewer();
  const fb = await hub.acquire("h /s", cam.open);
  assert(fa === fb, "same feed");
  fb.attach(b);
  cam.sink().segment(seg(4, false));
  assertEquals(cam.opens(), 1, "one camera session for two viewers");
  assertEquals([a.inits, a.got], [1, [1, 2, 3, 4]]);
  assertEquals([b.inits, b.got], [1, [1, 2, 3, 4]], "the joiner got the GOP so far, then live");
  fa.detach(a);
  assertEquals(cam.closes(), 0);
  fb.detach(b);
  await new Promise((r) => setTimeout(r, 0));
  assertEquals([cam.closes(), hub.size], [1, 0], "the last viewer leaving closes the session");
});

Deno.test("hub: a slow viewer skips to the next keyframe, the others get everything", async () => {
  const hub = new LiveHub();
  const cam = camera();
  const fast = new TestViewer();
  const slow = new TestViewer();
  const f = await hub.acquire("k", cam.open);
  await hub.acquire("k", cam.open);
  f.attach(fast);
  f.attach(slow);
  cam.sink().init(INIT);
  cam.sink().segment(seg(1, true));
  slow.queued = SLOW_VIEWER_BYTES + 1; // its socket is backed up
  cam.sink().segment(seg(2, false));
  cam.sink().segment(seg(3, false));
  slow.queued = 0; // drained: still waits for a keyframe, never gets a broken picture
  cam.sink().segment(seg(4, false));
  cam.sink().segment(seg(5, true));
  cam.sink().segment(seg(6, false));
  assertEquals(fast.got, [1, 2, 3, 4, 5, 6]);
  assertEquals(slow.got, [1, 5, 6]);
  assertEquals(f.skipped, 3);
});

Deno.test("hub: sound sent before the keyframe it plays with starts with that keyframe, for a viewer waiting and for a joiner, never twice", async () => {
  // Segments numbered 10× their decode time in 1/10 s: a picture is sent once the next one
  // tells its duration, and a recording's sound runs ahead, so sound at or after a picture's
  // instant can come before it.
  const pic = (t: number, keyframe: boolean): Segment => ({
    bytes: new Uint8Array([t]),
    keyframe,
    decodeTime: t * 9000,
  });
  const sound = (t: number): Segment => ({ ...pic(t, false), audio: true });
  const hub = new LiveHub();
  const cam = camera();
  const early = new TestViewer(); // a clip: attached before the camera's first segment
  const f = await hub.acquire("k", cam.open);
  f.attach(early);
  cam.sink().init(INIT);
  for (const t of [10, 11, 12]) cam.sink().segment(sound(t)); // the first picture's sound
  cam.sink().segment(pic(10, true));
  cam.sink().segment(sound(13));
  cam.sink().segment(pic(11, false));
  assertEquals(early.got, [10, 10, 11, 12, 13, 11], "none of the first picture's sound lost");

  // Sound before a later keyframe's instant was its GOP's; at or after it, the next one's.
  for (const t of [14, 20, 21]) cam.sink().segment(sound(t));
  early.queued = SLOW_VIEWER_BYTES + 1; // backed up: it waits for the next keyframe
  cam.sink().segment(sound(22));
  early.queued = 0;
  cam.sink().segment(pic(20, true));
  assertEquals(
    early.got,
    [10, 10, 11, 12, 13, 11, 14, 20, 21, 20, 22],
    "a viewer that skipped gets what it missed from the keyframe on, and no sound twice",
  );
  const joiner = new TestViewer();
  await hub.acquire("k", cam.open);
  f.attach(joiner);
  assertEquals(joiner.got, [20, 20, 21, 22], "a joiner starts with the keyframe and its sound");
  for (const v of [early, joiner]) f.detach(v);
});

Deno.test("hub: the camera ending closes every viewer; a failed open leaves nothing", async () => {
  const hub = new LiveHub();
  const cam = camera();
  const v = new TestViewer();
  const f = await hub.acquire("k", cam.open);
  f.attach(v);
  cam.end("the camera closed the stream");
  await new Promise((r) => setTimeout(r, 0));
  assertEquals(v.closed, "the camera closed the stream");
  assertEquals(hub.size, 0);
  let err: unknown;
  try {
    await hub.acquire("x", () => Promise.reject(new AppError("camera_refused")));
  } catch (e) {
    err = e;
  }
  assert(err instanceof AppError && err.code === "camera_refused");
  assertEquals(hub.size, 0);
});

Deno.test("hub: the last failed open of a key is remembered for a minute, until one plays", async () => {
  const hub = new LiveHub();
  const refused = new AppError("camera_refused", "the camera answered DESCRIBE with 404 Not Found");
  await hub.acquire("h1 /nope", () => Promise.reject(refused)).catch(() => {});
  assertEquals(hub.recentFailure("h1 /nope"), refused);
  assertEquals(hub.recentFailure("h1 /other"), null, "per stream path");
  assertEquals(
    hub.recentFailure("h1 /nope", Date.now() + FAILURE_MEMORY_MS + 1),
    null,
    "forgotten",
  );
  await hub.acquire("h1 /nope", () => Promise.reject(refused)).catch(() => {});
  const cam = camera();
  const f = await hub.acquire("h1 /nope", cam.open);
  assertEquals(hub.recentFailure("h1 /nope"), null, "it plays now");
  f.release();
});

Deno.test("hub: originMs is the earliest arrival minus decode time", async () => {
  const hub = new LiveHub();
  const cam = camera();
  const f = await hub.acquire("k", cam.open);
  assertEquals(f.originMs, null);
  cam.sink().init(INIT);
  cam.sink().segment(seg(1, true, 10_150)); // decode time 100 ms, arrived late
  cam.sink().segment(seg(2, false, 10_220)); // decode time 200 ms: origin 10 020
  cam.sink().segment(seg(3, false, 10_400));
  assertEquals(f.originMs, 10_020);
  f.release();
});

Deno.test("hub: a viewer that paces its session holds the camera's reading; the feed says the camera sends fast", async () => {
  const hub = new LiveHub();
  let sink!: FeedSink;
  const f = await hub.acquire("clip", (s) => {
    sink = s;
    return Promise.resolve({ ended: new Promise<string>(() => {}), fast: true, close() {} });
  });
  assertEquals(f.fast, true);
  assertEquals(sink.hold?.(), null, "no viewer: nothing holds");
  const live = new TestViewer();
  f.attach(live);
  assertEquals(sink.hold?.(), null, "a live viewer never holds: it skips pictures instead");
  const waiting = Promise.withResolvers<void>();
  let holding = true;
  const clip = Object.assign(new TestViewer(), {
    hold: () => holding ? waiting.promise : null,
  });
  await hub.acquire("clip", () => Promise.reject(new Error("not opened twice")));
  f.attach(clip);
  assertEquals(sink.hold?.(), null, "among others, a viewer never holds the session");
  f.detach(live);
  assert(sink.hold?.() === waiting.promise, "alone on it, the clip's hold is the session's");
  holding = false;
  assertEquals(sink.hold?.(), null);
  f.detach(clip);
});
