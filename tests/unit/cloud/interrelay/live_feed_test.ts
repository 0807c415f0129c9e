// A live-view camera session shared between nodes, over a real loopback TCP connection: the
// owner's feed forwards to the sibling, whose own feed starts its viewers on a keyframe with
// every segment's bytes, keyframe flag and times intact; the owner's end reason is the sibling's;
// the sibling leaving detaches the forwarder (the owner's last viewer gone, its camera session
// closes); a sibling that stops reading makes the owner skip pictures for it instead of queueing
// without bound; bytes that are not a feed end the session with a reason, never a crash.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { type FeedSink, LiveHub, SLOW_VIEWER_BYTES } from "../../../../src/cloud/live/hub.ts";
import type { Init, Segment } from "../../../../src/cloud/live/remuxer.ts";
import {
  encodeInit,
  encodeSegment,
  feedForwarder,
  LiveMsg,
  OWNER_GONE,
  readLiveMessage,
  remoteFeedSource,
} from "../../../../src/cloud/interrelay/live_feed.ts";
import { until } from "../../../_fixtures/until.ts";

const INIT: Init = {
  bytes: new Uint8Array([9, 8, 7]),
  codec: "avc1.42C01E",
  width: 640,
  height: 480,
};
const seg = (n: number, keyframe: boolean, size = 1): Segment => ({
  bytes: new Uint8Array(size).fill(n),
  keyframe,
  decodeTime: n * 3000,
  arrivedMs: 1_700_000_000_000 + n,
});

/** Two ends of one loopback TCP connection. */
async function pair(): Promise<[Deno.Conn, Deno.Conn]> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
    l.accept(),
  ]);
  l.close();
  return [a, b];
}

/** A camera the test drives: the opener of a feed, and the sink it was given. */
function camera() {
  let sink!: FeedSink;
  let closes = 0;
  let end!: (r: string) => void;
  return {
    open: (s: FeedSink) => {
      sink = s;
      return Promise.resolve({
        ended: new Promise<string>((r) => (end = r)),
        close: () => void closes++,
      });
    },
    sink: () => sink,
    closes: () => closes,
    end: (r: string) => end(r),
  };
}

/** A viewer recording what it got. */
function recorder() {
  const got: Segment[] = [];
  const inits: Init[] = [];
  let closed: string | null = null;
  return {
    got,
    inits,
    closed: () => closed,
    viewer: {
      init: (i: Init) => void inits.push(i),
      send: (s: Segment) => void got.push(s),
      buffered: () => 0,
      close: (r: string) => void (closed = r),
    },
  };
}

/** The owner's feed shared with a sibling's feed over a loopback connection. */
async function shared() {
  const [ownerSide, siblingSide] = await pair();
  const owner = new LiveHub();
  const cam = camera();
  const ownerFeed = await owner.acquire("h /s", cam.open);
  const fwd = feedForwarder(ownerSide);
  ownerFeed.attach(fwd.viewer);
  const bad: string[] = [];
  const sibling = new LiveHub();
  const siblingFeed = await sibling.acquire(
    "h /s",
    (sink) => Promise.resolve(remoteFeedSource(siblingSide, sink, (why) => bad.push(why))),
  );
  return { owner, cam, ownerFeed, fwd, sibling, siblingFeed, bad, ownerSide, siblingSide };
}

Deno.test("live feed: a sibling's viewers get the owner's pictures from a keyframe, intact; the owner's end reason is theirs", async () => {
  const s = await shared();
  s.cam.sink().init(INIT);
  s.cam.sink().segment(seg(1, false)); // before the first keyframe: no viewer starts on it
  s.cam.sink().segment(seg(2, true));
  s.cam.sink().segment(seg(3, false, 100_000)); // larger than one bridge frame
  const v = recorder();
  await until("the sibling's GOP", () => s.siblingFeed.init !== null, 5_000, 5);
  s.siblingFeed.attach(v.viewer);
  s.cam.sink().segment(seg(4, false));
  // A segment of sound stays one at the sibling (a clip there ends by pictures, not by sound).
  const sound: Segment = { ...seg(5, false, 7), audio: true };
  s.cam.sink().segment(sound);
  await until("three pictures and a sound at the sibling", () => v.got.length >= 4, 5_000, 5);
  assertEquals(v.inits, [INIT]);
  assertEquals(v.got.map((g) => [g.bytes[0], g.bytes.byteLength, g.keyframe]), [
    [2, 1, true],
    [3, 100_000, false],
    [4, 1, false],
    [5, 7, false],
  ]);
  assertEquals(v.got[1], seg(3, false, 100_000), "times and flags as the owner had them");
  assertEquals(v.got[3], sound);
  // The origin figure (latency) is computed from the owner's arrival times.
  assertEquals(s.siblingFeed.originMs, s.ownerFeed.originMs);

  s.cam.end("no picture from the camera for 10 seconds");
  await until("the sibling's viewer closed", () => v.closed() !== null, 5_000, 5);
  assertEquals(v.closed(), "no picture from the camera for 10 seconds");
  assertEquals(s.sibling.size, 0);
  await s.fwd.done;
  assertEquals(s.bad, []);
});

Deno.test("live feed: the sibling's last viewer leaving detaches the forwarder, and the owner's camera session closes", async () => {
  const s = await shared();
  s.cam.sink().init(INIT);
  s.cam.sink().segment(seg(1, true));
  const v = recorder();
  await until("the sibling's init", () => s.siblingFeed.init !== null, 5_000, 5);
  s.siblingFeed.attach(v.viewer);
  assertEquals(s.ownerFeed.viewers, 1);
  s.siblingFeed.detach(v.viewer); // the sibling's feed closes its connection
  await s.fwd.done;
  s.ownerFeed.detach(s.fwd.viewer); // what the internal listener does when `done` resolves
  await until("the owner's session closed", () => s.cam.closes() === 1, 5_000, 5);
  assertEquals(s.owner.size, 0);
});

Deno.test("live feed: a sibling that stops reading costs the owner a bounded queue; it skips to keyframes", async () => {
  const [ownerSide, siblingSide] = await pair();
  const owner = new LiveHub();
  const cam = camera();
  const feed = await owner.acquire("k", cam.open);
  const fwd = feedForwarder(ownerSide);
  feed.attach(fwd.viewer);
  cam.sink().init(INIT);
  const picture = 64 << 10;
  let most = 0;
  for (let n = 0; n < 400; n++) {
    cam.sink().segment(seg(n % 256, n % 30 === 0, picture)); // 25 MiB offered, nothing read
    most = Math.max(most, fwd.viewer.buffered());
    if (n % 20 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  assert(feed.skipped > 0, "pictures were skipped for the stalled sibling");
  assert(most <= SLOW_VIEWER_BYTES + 2 * picture, `queued at most ${most} bytes`);
  siblingSide.close();
  await fwd.done;
  feed.detach(fwd.viewer);
  assertEquals(owner.size, 0);
});

Deno.test("live feed: bytes that are not a feed end the sibling's session with a reason", async () => {
  const cases: [string, Uint8Array, string][] = [
    ["unknown type", new Uint8Array([7, 0, 0, 0, 0]), "unknown message type 7"],
    ["oversized", new Uint8Array([LiveMsg.SEGMENT, 0x7f, 0xff, 0xff, 0xff]), "a message of"],
    ["short segment", new Uint8Array([LiveMsg.SEGMENT, 0, 0, 0, 2, 1, 2]), "a short SEGMENT"],
    [
      "init head not JSON",
      new Uint8Array([LiveMsg.INIT, 0, 0, 0, 4, 0, 2, 0x7b, 0x7b]),
      "not JSON",
    ],
    [
      "init head of another shape",
      (() => {
        const m = encodeInit(INIT);
        m[m.indexOf(0x7b) + 2] = 0x78; // "codec" → "cxdec"
        return m;
      })(),
      "a bad head",
    ],
    ["cut inside a message", encodeSegment(seg(1, true, 50)).subarray(0, 30), "inside a message"],
  ];
  for (const [what, bytes, why] of cases) {
    const [a, b] = await pair();
    const bad: string[] = [];
    const src = remoteFeedSource(b, { init: () => {}, segment: () => {} }, (w) => bad.push(w));
    let off = 0;
    while (off < bytes.byteLength) off += await a.write(bytes.subarray(off));
    await a.closeWrite();
    const reason = await src.ended;
    assertEquals(reason, "the camera session ended", what);
    assertEquals(bad.length, 1, what);
    assert(bad[0].includes(why), `${what}: ${bad[0]}`);
    a.close();
  }
  // A connection that ends between messages, without END: the owner went away.
  const [a, b] = await pair();
  const src = remoteFeedSource(b, { init: () => {}, segment: () => {} }, () => {});
  a.close();
  assertEquals(await src.ended, OWNER_GONE);
  // And the reader alone: a stream of nothing is no message.
  const [c, d] = await pair();
  c.close();
  assertEquals(await readLiveMessage(d), null);
  d.close();
});
