/**
 * Growing windows (`proto/mux.md`): over a link with a round trip, a stream whose reader keeps
 * up doubles the window it grants, up to MAX_STREAM_WINDOW; over a short link a stream alone on its
 * connection gets SOLO_WINDOW and one that shares it keeps INITIAL_WINDOW; never toward a peer that
 * did not say it may (protocol 2); a reader that stalls after its window grew holds at most that
 * window; a sender whose window grew still counts its bulk as bulk.
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { delayProxy } from "../../../_fixtures/delay_link.ts";
import { frameBytes, frames, gatedConn } from "../../../_fixtures/mux_wire.ts";
import {
  encodeOpen,
  encodeWindow,
  FrameType,
  INITIAL_WINDOW,
  MAX_STREAM_WINDOW,
} from "../../../../src/shared/protocol/mux.ts";
import {
  MuxSession,
  type MuxStream,
  RTT_SAMPLES_TO_GROW,
  SOLO_WINDOW,
} from "../../../../src/shared/transport/mux_session.ts";
import { until } from "../../../_fixtures/until.ts";

/**
 * A cloud and an agent session whose connection passes a link of `oneWayMs` each way; the agent
 * accepts every stream. `grow`: what each side was told about its peer.
 */
async function longLink(
  oneWayMs: number,
  grow: { cloud: boolean; agent: boolean },
  shortLinkMs?: number,
  streamsElsewhere?: () => number,
  beforeOpen?: (cloud: MuxSession, agent: MuxSession) => Promise<void>,
) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const link = delayProxy((l.addr as Deno.NetAddr).port, oneWayMs);
  const [a, b] = await Promise.all([
    l.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: link.port }),
  ]);
  l.close();
  const accepted: MuxStream[] = [];
  const cloud = new MuxSession(a, { role: "cloud", growWindows: grow.cloud, shortLinkMs });
  const agent = new MuxSession(b, {
    role: "agent",
    growWindows: grow.agent,
    shortLinkMs,
    streamsElsewhere,
    onOpen: (s) => {
      s.accept();
      accepted.push(s);
    },
  });
  await beforeOpen?.(cloud, agent);
  const s = cloud.openStream("dev", 80);
  await s.opened;
  await until("the agent's side of the stream", () => accepted.length === 1, 20_000, 10);
  return {
    cloud,
    agent,
    accepted,
    up: s,
    down: accepted[0],
    close() {
      cloud.close();
      agent.close();
      link.close();
    },
  };
}

/**
 * `longLink`, once the agent's side has RTT_SAMPLES_TO_GROW round-trip samples (a second PING
 * goes out at the first ask after the PING floor) and so counts the link as long.
 */
async function confirmedLongLink(oneWayMs: number) {
  const p = await longLink(oneWayMs, { cloud: true, agent: true });
  await until(
    "the round trip confirmed",
    () => {
      p.agent.roundTrip();
      return p.agent.rttConfirmed;
    },
    20_000,
    100,
  );
  return p;
}

async function writeAll(s: MuxStream, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await s.write(data.subarray(off));
}

/** Reads `n` bytes, checking each is `fill`. */
async function readAll(s: MuxStream, n: number, fill: number): Promise<void> {
  const buf = new Uint8Array(64 << 10);
  for (let have = 0; have < n;) {
    const got = await s.read(buf);
    if (got === null) throw new Error(`end of stream after ${have} of ${n} bytes`);
    for (let i = 0; i < got; i++) if (buf[i] !== fill) throw new Error(`byte ${have + i} wrong`);
    have += got;
  }
}

/**
 * The reader of `p.down` stops; the writer of `p.up` goes on until the credit is spent and waits.
 * Resolves with what it wrote once the bytes queued for the reader stopped changing (the writer
 * ends with the connection: close `p` afterwards).
 */
async function stallReader(p: { up: MuxStream; down: MuxStream }): Promise<number> {
  let written = 0;
  const chunk = new Uint8Array(64 << 10).fill(2);
  (async () => {
    for (;;) written += await p.up.write(chunk);
  })().catch(() => {});
  await until("bytes queued for the stalled reader", () => p.down.buffered > 0, 20_000, 10);
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await new Promise((r) => setTimeout(r, 100));
    stable = p.down.buffered === last ? stable + 1 : 0;
    last = p.down.buffered;
  }
  return written;
}

Deno.test("mux windows: over a 20 ms round trip a reader that keeps up grows its window, at most to MAX_STREAM_WINDOW", async () => {
  const p = await confirmedLongLink(10);
  try {
    assertEquals(p.down.window, INITIAL_WINDOW);
    const total = 24 << 20;
    await Promise.all([
      writeAll(p.up, new Uint8Array(total).fill(7)),
      readAll(p.down, total, 7),
    ]);
    // Every byte arrived within the credit granted (an overrun closes the connection).
    assert(!p.agent.closed && !p.cloud.closed, "the connection is still up");
    // Doubled past what a stream alone gets over a short link.
    assert(p.down.window > SOLO_WINDOW, `window grew (${p.down.window})`);
    assert(p.down.window <= MAX_STREAM_WINDOW, `window within the cap (${p.down.window})`);
    // The round trip came from a PING the cloud's side answered.
    const rtt = p.agent.roundTrip();
    assert(rtt !== null && rtt >= 15, `round trip measured over the link (${rtt} ms)`);
  } finally {
    p.close();
  }
});

Deno.test("mux windows: a connection confirms a long link by itself, so its first transfer grows from the start", async () => {
  // Nothing asks for a round trip (no stream, no roundTrip() call): a connection dialed ahead
  // of its tunnels, as the agent's pool dials them.
  const p = await longLink(10, { cloud: true, agent: true }, undefined, undefined, async (c, a) => {
    await until(
      "both ends confirmed the round trip",
      () => {
        return c.rttConfirmed && a.rttConfirmed;
      },
      20_000,
      50,
    );
  });
  try {
    assertEquals(p.down.window, INITIAL_WINDOW);
    const total = 16 << 20;
    await Promise.all([
      writeAll(p.up, new Uint8Array(total).fill(5)),
      readAll(p.down, total, 5),
    ]);
    // Grown within the first transfer (before, its first ask for a second sample came only at a
    // top-up, and the window stayed SOLO_WINDOW until it was answered: 2 s in).
    assert(p.down.window > SOLO_WINDOW, `window grew (${p.down.window})`);
    assert(!p.agent.closed && !p.cloud.closed, "the connection is still up");
  } finally {
    p.close();
  }
});

Deno.test("mux windows: over a short link a stream alone on its connection gets SOLO_WINDOW, one that shares it INITIAL_WINDOW", async () => {
  // A 20 ms round trip counted as short (the threshold moved to 100 ms for the test).
  const p = await longLink(10, { cloud: true, agent: true }, 100);
  try {
    const chunk = 4 << 20;
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(4)), readAll(p.down, chunk, 4)]);
    assert(p.agent.roundTrip() !== null, "the round trip was measured");
    assertEquals(p.down.window, SOLO_WINDOW, "alone: the solo window at once");
    // A second stream on the connection: from the next top-up the first shares it.
    const second = p.cloud.openStream("dev", 81);
    await second.opened;
    await until("the agent's side of the second stream", () => p.accepted.length === 2, 20_000, 10);
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(5)), readAll(p.down, chunk, 5)]);
    assertEquals(p.down.window, INITIAL_WINDOW, "shared: back to the initial window");
    // The second stream's own transfer does not grow its window either.
    await Promise.all([
      writeAll(second, new Uint8Array(chunk).fill(6)),
      readAll(p.accepted[1], chunk, 6),
    ]);
    assertEquals(p.accepted[1].window, INITIAL_WINDOW, "a stream that shares never grows");
    // Alone again: the solo window at the next top-up.
    second.close();
    p.accepted[1].close();
    await until("the second stream gone", () => p.agent.streamCount === 1, 20_000, 10);
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(7)), readAll(p.down, chunk, 7)]);
    assertEquals(p.down.window, SOLO_WINDOW, "alone again");
    // Every byte arrived within the credit granted (an overrun closes the connection).
    assert(!p.agent.closed && !p.cloud.closed, "the connection is still up");
  } finally {
    p.close();
  }
});

Deno.test("mux windows: over a short link a stream is not alone while the agent has streams on its other connections", async () => {
  let elsewhere = 1;
  const p = await longLink(10, { cloud: true, agent: true }, 100, () => elsewhere);
  try {
    const chunk = 4 << 20;
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(4)), readAll(p.down, chunk, 4)]);
    assert(p.agent.roundTrip() !== null, "the round trip was measured");
    assertEquals(p.down.window, INITIAL_WINDOW, "another connection carries a stream");
    elsewhere = 0;
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(5)), readAll(p.down, chunk, 5)]);
    assertEquals(p.down.window, SOLO_WINDOW, "alone on every connection");
    elsewhere = 2;
    await Promise.all([writeAll(p.up, new Uint8Array(chunk).fill(6)), readAll(p.down, chunk, 6)]);
    assertEquals(p.down.window, INITIAL_WINDOW, "not alone any more");
    assert(!p.agent.closed && !p.cloud.closed, "the connection is still up");
  } finally {
    p.close();
  }
});

Deno.test("mux windows: one slow first round trip (a busy peer) does not make a short link long", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    l.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
  ]);
  l.close();
  const accepted: MuxStream[] = [];
  const agent = new MuxSession(b, {
    role: "agent",
    growWindows: true,
    onOpen: (s) => {
      s.accept();
      accepted.push(s);
    },
  });
  // The agent's first PING waits for a cloud that is busy elsewhere: an inflated first sample.
  await new Promise((r) => setTimeout(r, 40));
  const cloud = new MuxSession(a, { role: "cloud", growWindows: true });
  try {
    const up = cloud.openStream("dev", 80);
    await up.opened;
    await until("the agent's side of the stream", () => accepted.length === 1, 20_000, 10);
    const down = accepted[0];
    const chunk = 8 << 20;
    await Promise.all([writeAll(up, new Uint8Array(chunk).fill(1)), readAll(down, chunk, 1)]);
    const first = agent.roundTrip();
    assert(first !== null && first >= 30, `the first sample waited (${first} ms)`);
    assertEquals(agent.rttConfirmed, false, `one sample of ${RTT_SAMPLES_TO_GROW}`);
    // Not doubled toward 4 MiB as over a long link: alone on a short one.
    assertEquals(down.window, SOLO_WINDOW);
    // The next sample, once the PING floor allows, shows the link for what it is.
    await until(
      "a second sample",
      () => {
        agent.roundTrip();
        return agent.rttConfirmed;
      },
      20_000,
      100,
    );
    assert(agent.roundTrip()! < 5, `the least sample is loopback's (${agent.roundTrip()} ms)`);
    await Promise.all([writeAll(up, new Uint8Array(chunk).fill(2)), readAll(down, chunk, 2)]);
    assertEquals(down.window, SOLO_WINDOW);
    assert(!agent.closed && !cloud.closed, "the connection is still up");
  } finally {
    cloud.close();
    agent.close();
  }
});

Deno.test("mux windows: a stalled reader alone on a short link holds at most SOLO_WINDOW", async () => {
  const p = await longLink(10, { cloud: true, agent: true }, 100);
  try {
    const first = 2 << 20;
    await Promise.all([writeAll(p.up, new Uint8Array(first).fill(1)), readAll(p.down, first, 1)]);
    assertEquals(p.down.window, SOLO_WINDOW);
    const written = await stallReader(p);
    assert(p.down.buffered <= SOLO_WINDOW, `buffered ${p.down.buffered} within ${SOLO_WINDOW}`);
    assert(written <= SOLO_WINDOW, `the writer stopped within the credit (${written})`);
  } finally {
    p.close();
  }
});

Deno.test("mux windows: toward a peer of protocol 2 the window never grows", async () => {
  const p = await longLink(10, { cloud: true, agent: false });
  try {
    const total = 8 << 20;
    await Promise.all([
      writeAll(p.up, new Uint8Array(total).fill(3)),
      readAll(p.down, total, 3),
    ]);
    assertEquals(p.down.window, INITIAL_WINDOW);
    assertEquals(p.agent.roundTrip(), null, "no round trip asked for");
  } finally {
    p.close();
  }
});

Deno.test("mux windows: a reader that stalls after its window grew holds at most that window", async () => {
  const p = await confirmedLongLink(10);
  try {
    const first = 16 << 20;
    await Promise.all([writeAll(p.up, new Uint8Array(first).fill(1)), readAll(p.down, first, 1)]);
    const grown = p.down.window;
    assert(grown > SOLO_WINDOW, `window grew (${grown})`);
    const written = await stallReader(p);
    assert(p.down.buffered <= grown, `buffered ${p.down.buffered} within the window ${grown}`);
    assertEquals(p.down.window, grown, "a stalled reader's window does not grow");
    assert(written <= grown, `the writer stopped within the credit (${written} of ${grown})`);
  } finally {
    p.close();
  }
});

/** The stream ids of the DATA frames in `chunks`, in order. */
function dataOf(chunks: Uint8Array[]): number[] {
  return frames(chunks).filter((f) => f.type === FrameType.DATA).map((f) => f.stream);
}

Deno.test("mux windows: a sender whose window grew still queues its bulk behind the bulk before it", async () => {
  const g = gatedConn();
  const opened: MuxStream[] = [];
  const agent = new MuxSession(g.conn, { role: "agent", onOpen: (s) => opened.push(s) });
  try {
    g.feed(frameBytes(FrameType.OPEN, 1, encodeOpen("127.0.0.1", 80)));
    g.feed(frameBytes(FrameType.OPEN, 3, encodeOpen("127.0.0.1", 81)));
    await until("two streams opened", () => opened.length === 2, 20_000, 10);
    const [grown, other] = opened;
    grown.accept();
    other.accept();
    // The peer grows stream 1's window to 4 × INITIAL_WINDOW.
    g.feed(frameBytes(FrameType.WINDOW, 1, encodeWindow(3 * INITIAL_WINDOW)));
    await until("the OPENED frames in the connection's write", () => g.held === 1, 20_000, 10);
    await new Promise((r) => setTimeout(r, 20));
    const before = g.written.length;
    // Stream 3's bulk fills the batch being gathered; then stream 1 writes a full frame.
    await other.write(new Uint8Array(64 << 10).fill(3));
    const grownWrite = grown.write(new Uint8Array(64 << 10).fill(1));
    await new Promise((r) => setTimeout(r, 20));
    let draining = true;
    const drain = (async () => {
      while (draining) {
        g.release();
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await grownWrite;
    await until(
      "both frames written",
      () => dataOf(g.written.slice(before)).length === 2,
      20_000,
      10,
    );
    draining = false;
    await drain;
    // Had its grown credit counted as nothing in flight, stream 1's 64 KiB would have gone in
    // the urgent lane, ahead of the bulk queued before it.
    assertEquals(dataOf(g.written.slice(before)), [3, 1]);
  } finally {
    agent.close();
  }
});
