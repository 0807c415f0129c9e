/**
 * The mux session on a real loopback TCP connection: credit-based flow control per stream,
 * half-close, refusals, and what a lost connection does to its streams.
 */
import { assert, assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import {
  encodeOpen,
  FRAME_HEADER,
  FrameType,
  INITIAL_WINDOW,
  writeHeader,
} from "../../../../src/shared/protocol/mux.ts";
import {
  MuxSession,
  type MuxStream,
  StreamError,
} from "../../../../src/shared/transport/mux_session.ts";
import { frames, gatedConn } from "../../../_fixtures/mux_wire.ts";
import { pipeConns } from "../../../../src/shared/transport/pipe.ts";
import { until } from "../../../_fixtures/until.ts";

/** A cloud and an agent session over one loopback TCP connection. */
async function pair(onOpen: (s: MuxStream, host: string, port: number) => void) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [a, b] = await Promise.all([
    l.accept(),
    Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
  ]);
  l.close();
  const cloud = new MuxSession(a, { role: "cloud" });
  const agent = new MuxSession(b, { role: "agent", onOpen });
  return {
    cloud,
    agent,
    close() {
      cloud.close();
      agent.close();
    },
  };
}

async function readN(s: MuxStream, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const got = await s.read(out.subarray(have));
    if (got === null) throw new Error(`end of stream after ${have} bytes`);
    have += got;
  }
  return out;
}

async function writeAll(s: MuxStream, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await s.write(data.subarray(off));
}

/** A pair whose agent accepts every stream; its streams in `agentSide`, one stream opened. */
async function openedPair() {
  const agentSide: MuxStream[] = [];
  const p = await pair((s) => {
    s.accept();
    agentSide.push(s);
  });
  const s = p.cloud.openStream("dev", 80);
  await s.opened;
  return { p, s, agentSide };
}

Deno.test("mux: a writer may have one window in flight; reading tops it up", async () => {
  const { p, s, agentSide } = await openedPair();
  try {
    const total = INITIAL_WINDOW * 4;
    let written = 0;
    const data = new Uint8Array(total).map((_, i) => (i * 31 + 7) & 0xff);
    const writer = (async () => {
      while (written < total) written += await s.write(data.subarray(written));
    })();
    await until("one window buffered", () => agentSide[0]?.buffered === INITIAL_WINDOW, 10_000, 10);
    // The writer is held at exactly one window while nobody reads.
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(written, INITIAL_WINDOW);
    assertEquals(agentSide[0].buffered, INITIAL_WINDOW);
    // What a stall report shows of it: the writer waits for credit, the reader's side holds it.
    const held = { eof: false, closed: false };
    assertEquals(s.flow, {
      ...held,
      sendWindow: 0,
      recvWindow: INITIAL_WINDOW,
      queued: 0,
      readPending: false,
      creditPending: true,
    });
    assertEquals(agentSide[0].flow, {
      ...held,
      sendWindow: INITIAL_WINDOW,
      recvWindow: 0,
      queued: INITIAL_WINDOW,
      readPending: false,
      creditPending: false,
    });
    const got = await readN(agentSide[0], total);
    await writer;
    assertEquals(got, data);
    assert(agentSide[0].buffered === 0);
    // Every byte read: a read now waits for DATA.
    const next = agentSide[0].read(new Uint8Array(1));
    assert(agentSide[0].flow.readPending);
    s.close();
    assertEquals(await next, null);
    assert(agentSide[0].flow.closed);
  } finally {
    p.close();
  }
});

Deno.test("mux: a stalled stream does not stall another on the same connection", async () => {
  const agentSide: MuxStream[] = [];
  const p = await pair((s) => {
    s.accept();
    agentSide.push(s);
  });
  try {
    const stalled = p.cloud.openStream("dev", 1);
    const busy = p.cloud.openStream("dev", 2);
    await Promise.all([stalled.opened, busy.opened]);
    // The agent writes to both; nobody reads the stalled one.
    const big = new Uint8Array(8 << 20).fill(7);
    const stalledWriter = writeAll(agentSide[0], big).catch(() => {});
    const busyWriter = writeAll(agentSide[1], big);
    const got = await readN(busy, big.byteLength);
    await busyWriter;
    assertEquals(got.byteLength, big.byteLength);
    assertEquals(stalled.buffered, INITIAL_WINDOW);
    stalled.close();
    await stalledWriter;
  } finally {
    p.close();
  }
});

Deno.test("mux: half-close each way, then close; refusals carry the agent's code", async () => {
  const p = await pair((s, host) => {
    if (host === "nope") return s.refuse("target_not_allowed", "target not in allowlist");
    s.accept();
    (async () => {
      const buf = new Uint8Array(100);
      const n = await s.read(buf);
      await writeAll(s, buf.subarray(0, n!));
      assertEquals(await s.read(buf), null); // the cloud's FIN
      await s.write(new TextEncoder().encode("bye"));
      await s.closeWrite();
    })();
  });
  try {
    const refused = p.cloud.openStream("nope", 80);
    const e = await assertRejects(() => refused.opened);
    assert(e instanceof StreamError);
    assertEquals([e.code, e.message], ["target_not_allowed", "target not in allowlist"]);
    assertEquals(p.cloud.streamCount, 0);

    const s = p.cloud.openStream("echo", 7);
    await s.opened;
    await writeAll(s, new TextEncoder().encode("hello"));
    assertEquals(new TextDecoder().decode(await readN(s, 5)), "hello");
    await s.closeWrite();
    assertEquals(new TextDecoder().decode(await readN(s, 3)), "bye");
    assertEquals(await s.read(new Uint8Array(10)), null);
    s.close();
    await until("the agent forgot the stream", () => p.agent.streamCount === 0, 10_000, 10);
    assertEquals(p.cloud.streamCount, 0);
  } finally {
    p.close();
  }
});

Deno.test("mux: a lost connection ends every stream on it with a reason", async () => {
  const p = await pair((s) => s.accept());
  try {
    const streams = [p.cloud.openStream("a", 1), p.cloud.openStream("b", 2)];
    await Promise.all(streams.map((s) => s.opened));
    const reads = streams.map((s) => s.read(new Uint8Array(10)).catch((e) => e as Error));
    p.agent.close("agent stopping");
    for (const r of await Promise.all(reads)) {
      assert(r instanceof StreamError, `got ${r}`);
      assertEquals(r.message, "data connection closed by the peer");
    }
    assertEquals(await p.cloud.done, "data connection closed by the peer");
    const late = await assertRejects(() => streams[0].write(new Uint8Array(1)));
    assert(late instanceof StreamError);
  } finally {
    p.close();
  }
});

Deno.test("mux keepalive: idle peers keep the connection with PING/PONG; a silent peer is dropped", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  // Two honest idle sessions stay up across many keepalive intervals.
  const [a, b] = await Promise.all([l.accept(), Deno.connect({ hostname: "127.0.0.1", port })]);
  const cloud = new MuxSession(a, { role: "cloud", keepaliveMs: 100 });
  const agent = new MuxSession(b, { role: "agent", keepaliveMs: 100, onOpen: (s) => s.accept() });
  await new Promise((r) => setTimeout(r, 1_000));
  assert(!cloud.closed && !agent.closed, "idle but alive connections stay");
  const s = cloud.openStream("dev", 1);
  await s.opened;
  cloud.close();
  agent.close();

  // A peer that reads but never answers: closed after three quiet intervals, its streams told.
  const [c, d] = await Promise.all([l.accept(), Deno.connect({ hostname: "127.0.0.1", port })]);
  l.close();
  const drain = (async () => {
    const buf = new Uint8Array(1024);
    while ((await d.read(buf).catch(() => null)) !== null) { /* swallow */ }
  })();
  const lonely = new MuxSession(c, { role: "cloud", keepaliveMs: 100 });
  const orphan = lonely.openStream("dev", 1);
  const e = await assertRejects(() => orphan.opened);
  assertEquals(e.message, "data connection timed out (no answer to PING)");
  assertEquals(await lonely.done, "data connection timed out (no answer to PING)");
  d.close();
  await drain;
});

Deno.test("mux: readChunk hands over owned chunks in order, grants credit, ends with null", async () => {
  const { p, s, agentSide } = await openedPair();
  try {
    // A pending readChunk (no buffer of the caller's) is answered by the next DATA.
    const pending = s.readChunk(1 << 20);
    await until("the agent's stream", () => agentSide.length === 1, 10_000, 10);
    await writeAll(agentSide[0], new Uint8Array([1, 2, 3]));
    assertEquals(await pending, new Uint8Array([1, 2, 3]));
    // More than a window in total, read in chunks of at most 1000 bytes: every byte, in order
    // (the sender only gets past one window because reading grants credit).
    const total = INITIAL_WINDOW * 2;
    const data = new Uint8Array(total).map((_, i) => (i * 13 + 5) & 0xff);
    const writer = writeAll(agentSide[0], data).then(() => agentSide[0].closeWrite());
    const got = new Uint8Array(total);
    let have = 0;
    for (let c; (c = await s.readChunk(1000)) !== null;) {
      assert(c.byteLength > 0 && c.byteLength <= 1000, `chunk of ${c.byteLength}`);
      got.set(c, have);
      have += c.byteLength;
    }
    await writer;
    assertEquals(have, total);
    assertEquals(got, data);
  } finally {
    p.close();
  }
});

Deno.test("mux: a small write passes the bulk queued before it; a stream's own frames keep their order", async () => {
  const g = gatedConn();
  const opened: MuxStream[] = [];
  const agent = new MuxSession(g.conn, { role: "agent", onOpen: (s) => opened.push(s) });
  try {
    for (const id of [1, 3]) {
      const open = encodeOpen("127.0.0.1", 80);
      const f = new Uint8Array(FRAME_HEADER + open.byteLength);
      writeHeader(f, 0, FrameType.OPEN, id, open.byteLength);
      f.set(open, FRAME_HEADER);
      g.feed(f);
    }
    await until("two streams opened", () => opened.length === 2, 10_000, 10);
    const [bulk, interactive] = opened;
    bulk.accept();
    interactive.accept();
    await until("the first batch in the connection's write", () => g.held === 1, 10_000, 10);
    // Bulk queues behind the held write (3 × 64 KiB), then its half-close; then a keystroke.
    const bulkDone = writeAll(bulk, new Uint8Array(192 << 10).fill(1)).then(() =>
      bulk.closeWrite()
    );
    await new Promise((r) => setTimeout(r, 20));
    await writeAll(interactive, new Uint8Array([42]));
    // Let the connection take writes again, one at a time, until the bulk stream's FIN is out.
    let draining = true;
    const drain = (async () => {
      while (draining) {
        g.release();
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await bulkDone;
    await until(
      "the bulk stream's FIN",
      () => frames(g.written).some((f) => f.type === FrameType.FIN),
      10_000,
      10,
    );
    draining = false;
    await drain;
    const out = frames(g.written).filter((f) =>
      f.type === FrameType.DATA || f.type === FrameType.FIN
    );
    const keystroke = out.findIndex((f) => f.stream === 3);
    const bulkData = out.filter((f) => f.stream === 1 && f.type === FrameType.DATA);
    assertEquals(bulkData.reduce((n, f) => n + f.length, 0), 192 << 10);
    // The keystroke went out ahead of the bulk queued before it.
    assert(keystroke < out.findIndex((f) => f.stream === 1), JSON.stringify(out));
    // The bulk stream's FIN comes after all of its DATA.
    const bulkFrames = out.filter((f) => f.stream === 1);
    assertEquals(bulkFrames.at(-1)?.type, FrameType.FIN);
    assertEquals(bulkFrames.filter((f) => f.type === FrameType.FIN).length, 1);
  } finally {
    agent.close();
  }
});

Deno.test("mux: OPENs reach the peer in stream-id order, and a withdrawn open's CLOSE after its OPEN, with bulk queued", async () => {
  const g = gatedConn();
  const cloud = new MuxSession(g.conn, { role: "cloud" });
  try {
    const first = cloud.openStream("127.0.0.1", 80);
    await until("the first OPEN in the connection's write", () => g.held === 1, 10_000, 10);
    // Behind the held write: an OPEN, bulk (the cloud may write once the agent said OPENED; the
    // session does not check, which lets the test queue it here), another OPEN.
    const second = cloud.openStream("127.0.0.1", 81);
    const bulk = first.write(new Uint8Array(64 << 10).fill(1));
    const third = cloud.openStream("127.0.0.1", 82);
    second.close();
    await bulk;
    let draining = true;
    const drain = (async () => {
      while (draining) {
        g.release();
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    await until(
      "the bulk DATA written",
      () => frames(g.written).some((f) => f.type === FrameType.DATA),
      10_000,
      10,
    );
    draining = false;
    await drain;
    const out = frames(g.written);
    const opens = out.filter((f) => f.type === FrameType.OPEN).map((f) => f.stream);
    assertEquals(opens, [first.id, second.id, third.id]);
    const openAt = out.findIndex((f) => f.type === FrameType.OPEN && f.stream === second.id);
    const closeAt = out.findIndex((f) => f.type === FrameType.CLOSE && f.stream === second.id);
    assert(openAt >= 0 && closeAt > openAt, JSON.stringify(out));
    third.close();
  } finally {
    cloud.close();
  }
});

Deno.test("mux + pipe: a stream the cloud closes both ways lets the device go; one it half-closes waits for the device's answer", async () => {
  // The agent's side of a tunnel: its stream piped to a device on loopback that never answers
  // until told to.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const devices: Deno.Conn[] = [];
  const piped: Promise<unknown>[] = [];
  const p = await pair((s) => {
    s.accept();
    piped.push(
      Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port })
        .then((c) => pipeConns(c, s)),
    );
  });
  try {
    const deviceEnd = async () => {
      const c = await l.accept();
      devices.push(c);
      return c;
    };
    const readAll = async (c: Deno.Conn) => {
      const out: number[] = [];
      const buf = new Uint8Array(64);
      for (let n; (n = await c.read(buf)) !== null;) out.push(...buf.subarray(0, n));
      return new TextDecoder().decode(new Uint8Array(out));
    };

    // Closed both ways: the device reads the request, then the end, and the pipe is over.
    const s1 = p.cloud.openStream("dev", 80);
    await s1.opened;
    const d1 = await deviceEnd();
    await writeAll(s1, new TextEncoder().encode("GET"));
    s1.close();
    assertEquals(await readAll(d1), "GET");
    // The pipe is over although the device never answered nor closed (it would wait forever).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const over = await Promise.race([
      piped[0].then(() => "released"),
      new Promise<string>((r) => timer = setTimeout(() => r("still held after 10 s"), 10_000)),
    ]).finally(() => clearTimeout(timer));
    assertEquals(over, "released");

    // Half-closed: the device reads the end, answers, and the answer comes through.
    const s2 = p.cloud.openStream("dev", 80);
    await s2.opened;
    const d2 = await deviceEnd();
    await writeAll(s2, new TextEncoder().encode("GET"));
    await s2.closeWrite();
    assertEquals(await readAll(d2), "GET");
    await d2.write(new TextEncoder().encode("late answer"));
    d2.close();
    assertEquals(new TextDecoder().decode(await readN(s2, 11)), "late answer");
    assertEquals(await s2.read(new Uint8Array(8)), null);
    await piped[1];
  } finally {
    for (const c of devices) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    l.close();
    p.close();
  }
});

Deno.test("mux + pipe: the agent's pipe takes a stream's received chunks (no read buffer held while it is quiet); bytes arrive whole and in order both ways", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let reads = 0;
  let piped: Promise<unknown> | undefined;
  const p = await pair((s) => {
    s.accept();
    // A read into a buffer is what an idle tunnel's pipe held 2 KiB for: count any.
    const read = s.read.bind(s);
    s.read = (buf: Uint8Array) => {
      reads++;
      return read(buf);
    };
    piped = Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port })
      .then((c) => pipeConns(c, s));
  });
  const device = await Promise.all([
    (async () => {
      const s = p.cloud.openStream("dev", 80);
      await s.opened;
      return s;
    })(),
    l.accept(),
  ]);
  const [stream, dev] = device;
  try {
    const size = 3 << 20;
    const up = new Uint8Array(size).map((_, i) => (i * 7 + (i >> 11)) & 0xff);
    const down = new Uint8Array(size).map((_, i) => (i * 13 + (i >> 9)) & 0xff);
    const readAll = async (r: { read(p: Uint8Array): Promise<number | null> }) => {
      const out = new Uint8Array(size);
      let have = 0;
      while (have < size) {
        const n = await r.read(out.subarray(have));
        if (n === null) throw new Error(`end after ${have} bytes`);
        have += n;
      }
      return out;
    };
    const devWrite = async () => {
      let off = 0;
      while (off < size) off += await dev.write(down.subarray(off));
    };
    const [atDevice, atCloud] = await Promise.all([
      readAll(dev),
      readN(stream, size),
      writeAll(stream, up),
      devWrite(),
    ]);
    assertEquals(atDevice, up);
    assertEquals(atCloud, down);
    // The end still passes: the cloud's half-close is the device's end of stream.
    await stream.closeWrite();
    assertEquals(await dev.read(new Uint8Array(8)), null);
    dev.close();
    assertEquals(await stream.read(new Uint8Array(8)), null);
    await piped;
    assertEquals(reads, 0);
  } finally {
    try {
      dev.close();
    } catch { /* closed */ }
    l.close();
    p.close();
  }
});
