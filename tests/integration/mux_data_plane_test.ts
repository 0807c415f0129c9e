/**
 * The multiplexed data plane in one process, on 127.0.0.1, with the real parts: the cloud's
 * data listener and TunnelBroker, the agent's DataPool and dialer (allowlist, device dial,
 * pipe), real TLS under the project's PKI and real TCP devices. Only the control stream is
 * replaced by a direct call (the registry session's `send` hands OpenData to the agent's pool).
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { createLogger, type Logger } from "../../src/shared/log.ts";
import { closedPort } from "../_fixtures/stack.ts";
import pino from "pino";
import { encodeDataHeader, PROTOCOL_VERSION } from "../../src/shared/protocol/wire.ts";
import {
  encodeClose,
  encodeOpen,
  FRAME_HEADER,
  FrameType,
  INITIAL_WINDOW,
  MAX_WINDOW,
  readHeader,
  writeHeader,
} from "../../src/shared/protocol/mux.ts";
import {
  type MuxStream,
  SOLO_WINDOW,
  StreamError,
} from "../../src/shared/transport/mux_session.ts";
import { openLibc } from "../../src/shared/libc.ts";
import { sockAddr, socketFds } from "../../src/shared/transport/socket_info.ts";
import { shutdownSocket } from "../../src/shared/transport/socket_shutdown.ts";
import { DATA_NOTSENT_LOWAT, readNotSentLowat } from "../../src/shared/transport/notsent_lowat.ts";
import { AppError, CATALOGUE } from "../../src/shared/errors.ts";
import { startDataListener } from "../../src/cloud/control/data_listener.ts";
import { TunnelBroker } from "../../src/cloud/control/tunnels.ts";
import { Registry } from "../../src/cloud/control/registry.ts";
import type { CloudMessage } from "../../src/shared/protocol/control.ts";
import { DataPool } from "../../src/agent/data_pool.ts";
import { Allowlist } from "../../src/agent/allowlist.ts";
import { Stats } from "../../src/agent/stats.ts";
import { until, untilValue } from "../_fixtures/until.ts";

const log = createLogger({ role: "test", level: "silent" });

async function writeAll(c: { write(p: Uint8Array): Promise<number> }, d: Uint8Array) {
  let off = 0;
  while (off < d.byteLength) off += await c.write(d.subarray(off));
}

async function readN(
  s: { read(p: Uint8Array): Promise<number | null> },
  n: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const got = await s.read(out.subarray(have));
    if (got === null) throw new Error(`end of stream after ${have} of ${n} bytes`);
    have += got;
  }
  return out;
}

function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 131 + seed) & 0xff;
  return out;
}

/** A TCP device: `serve` gets each connection. */
function device(serve: (c: Deno.TcpConn) => Promise<void>) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const loop = (async () => {
    for await (const c of l) {
      conns.add(c);
      serve(c).catch(() => {}).finally(() => {
        conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      });
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    async close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}

/** Echo with half-close. */
const echo = async (c: Deno.TcpConn) => {
  const buf = new Uint8Array(64 << 10);
  for (;;) {
    const n = await c.read(buf);
    if (n === null) break;
    await writeAll(c, buf.subarray(0, n));
  }
  await c.closeWrite();
  await c.read(buf).catch(() => null);
};

/** Sends bytes as fast as the tunnel takes them, until the tunnel goes away. */
const source = async (c: Deno.TcpConn) => {
  const chunk = new Uint8Array(64 << 10).fill(1);
  for (;;) await writeAll(c, chunk);
};

/** The cloud side and a way to add agents to it. */
async function world(opts: {
  maxConns?: number;
  streamsPerConn?: number;
  authTimeoutMs?: number;
  maxUnauthenticatedPerSource?: number;
  trustedSource?: (ip: string) => boolean;
  maxUnauthenticatedPerTrustedSource?: number;
  openProbeMs?: number;
  ticketTtlMs?: number;
  redialMs?: number;
} = {}) {
  const ca = await createCA({ commonName: "test agent CA" });
  const cert = await issueServerCert({ ca, commonName: "cloud", hostnames: ["127.0.0.1"] });
  const registry = new Registry();
  const broker = new TunnelBroker(registry, {
    timeoutMs: 10_000,
    log,
    maxConns: opts.maxConns,
    streamsPerConn: opts.streamsPerConn,
    openProbeMs: opts.openProbeMs,
    ticketTtlMs: opts.ticketTtlMs,
    redialMs: opts.redialMs,
  });
  const data = await startDataListener({
    listen: { hostname: "127.0.0.1", port: 0 },
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    broker,
    log,
    authTimeoutMs: opts.authTimeoutMs,
    maxUnauthenticatedPerSource: opts.maxUnauthenticatedPerSource,
    trustedSource: opts.trustedSource,
    maxUnauthenticatedPerTrustedSource: opts.maxUnauthenticatedPerTrustedSource,
  });
  const devices = [
    device(echo),
    device(source),
    device(async (c) => {
      const buf = new Uint8Array(64 << 10);
      while ((await c.read(buf)) !== null) { /* a sink */ }
    }),
  ];
  const [echoDev, sourceDev, sinkDev] = devices;
  const pools: DataPool[] = [];
  const route = {
    host: "127.0.0.1",
    port: 0, // the control port: not used by data connections
    address: { address: "127.0.0.1", family: 4 as const },
    proxy: null,
  };

  /** Registers an agent; `onData` replaces the real pool (a hostile agent). */
  const agent = (
    id: string,
    onData?: (ticket: Uint8Array) => void,
    protocol = PROTOCOL_VERSION,
    agentLog: Logger = log,
  ) => {
    const allowlist = new Allowlist();
    allowlist.update(
      1,
      [echoDev, sourceDev, sinkDev].map((d) => ({ host: "127.0.0.1", port: d.port })),
    );
    const pool = new DataPool({ allowlist, stats: new Stats(), log: agentLog });
    pools.push(pool);
    registry.add({
      agentId: id,
      tenantId: "t",
      siteId: "s",
      connectedAt: Date.now(),
      activeStreams: 0,
      bytesUp: 0,
      bytesDown: 0,
      tunnelsOpened: 0,
      allowlistVersion: 1,
      version: "test",
      protocol,
      hostname: id,
      os: "linux",
      send(m: CloudMessage) {
        if (!m.openData) return;
        if (onData) return onData(m.openData.ticket);
        const ep = { route, port: data.port, caPem: ca.certPem, growWindows: true };
        const ticket = m.openData.ticket;
        pool.add(ep, ticket, (reason) => broker.dataDialFailed(id, ticket, reason));
      },
      close() {},
    });
    broker.agentConnected(id);
    return pool;
  };

  /** Peer ports of the data connections the listener holds. */
  const dataPeers = () => {
    const lib = openLibc();
    const out: number[] = [];
    for (const fd of socketFds()) {
      if (sockAddr(lib, fd, "getsockname")?.port !== data.port) continue;
      const peer = sockAddr(lib, fd, "getpeername");
      if (peer) out.push(peer.port);
    }
    return out;
  };

  return {
    ca,
    broker,
    data,
    echoPort: echoDev.port,
    sourcePort: sourceDev.port,
    sinkPort: sinkDev.port,
    agent,
    route,
    dataPeers,
    open: (id: string, port: number) => broker.open(id, "127.0.0.1", port),
    async close() {
      for (const p of pools) p.close();
      for (const id of ["a", "b", "g", "h"]) broker.killAgent(id);
      await data.close();
      await Promise.all(devices.map((d) => d.close()));
    },
  };
}

Deno.test("1,000 concurrent tunnels on one data connection: interactive and bulk, every byte right", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("a");
    const tunnels = await Promise.all(
      Array.from({ length: 1000 }, () => w.open("a", w.echoPort)),
    );
    assertEquals(w.broker.connectionCount("a"), 1);
    assertEquals(w.broker.liveCount, 1000);
    const bulk = 4 << 20;
    await Promise.all(tunnels.map(async (t, i) => {
      const s = t.socket;
      if (i % 100 === 0) {
        // Bulk: 4 MiB each way, written and read at once.
        const data = pattern(bulk, i);
        const [, got] = await Promise.all([writeAll(s, data), readN(s, bulk)]);
        assertEquals(got, data);
      } else {
        // Interactive: a few small round trips.
        for (let k = 0; k < 5; k++) {
          const msg = pattern(32, i + k);
          await writeAll(s, msg);
          assertEquals(await readN(s, 32), msg);
        }
      }
      await s.closeWrite();
      assertEquals(await s.read(new Uint8Array(1)), null);
      s.close();
      t.done();
    }));
    assertEquals(w.broker.liveCount, 0);
  } finally {
    await w.close();
  }
});

/**
 * Saturates the agent's data plane with bulk both ways (a device that sends without end, a sink
 * we write to without end), then times 300 small round trips on an echo tunnel opened after.
 */
async function interactiveUnderBulk(
  w: Awaited<ReturnType<typeof world>>,
  beforeEcho?: () => Promise<unknown>,
) {
  const down = await w.open("a", w.sourcePort);
  const up = await w.open("a", w.sinkPort);
  let moved = 0;
  let stop = false;
  const buf = new Uint8Array(64 << 10);
  const downLoop = (async () => {
    while (!stop) {
      const n = await down.socket.read(buf);
      if (n === null) break;
      moved += n;
    }
  })();
  const upLoop = (async () => {
    const chunk = new Uint8Array(64 << 10).fill(2);
    while (!stop) moved += await up.socket.write(chunk);
  })();
  await until("bulk flowing", () => moved > 32 << 20, 15_000, 20);
  await beforeEcho?.();
  const inter = await w.open("a", w.echoPort);
  const rtts: number[] = [];
  const msg = pattern(64, 9);
  for (let i = 0; i < 300; i++) {
    const t0 = performance.now();
    await writeAll(inter.socket, msg);
    await readN(inter.socket, msg.byteLength);
    rtts.push(performance.now() - t0);
  }
  stop = true;
  rtts.sort((a, b) => a - b);
  const p50 = rtts[Math.floor(rtts.length * 0.5)];
  const p99 = rtts[Math.floor(rtts.length * 0.99)];
  for (const t of [down, up, inter]) t.socket.close();
  await Promise.all([downLoop.catch(() => {}), upLoop.catch(() => {})]);
  return { p50, p99, movedMiB: moved / 2 ** 20 };
}

Deno.test("the pool grows by one data connection per 64 open tunnels, up to 4; every tunnel on them works", async () => {
  const w = await world();
  try {
    w.agent("a");
    const tunnels = [];
    for (let i = 0; i < 300; i++) tunnels.push(await w.open("a", w.echoPort));
    await until("four connections", () => w.broker.connectionCount("a") === 4, 15_000, 20);
    const more = await Promise.all(Array.from({ length: 100 }, () => w.open("a", w.echoPort)));
    assertEquals(w.broker.connectionCount("a"), 4);
    assertEquals(w.dataPeers().length, 4);
    for (const t of [...tunnels, ...more]) {
      await writeAll(t.socket, new Uint8Array([7]));
      assertEquals(await readN(t.socket, 1), new Uint8Array([7]));
      t.socket.close();
      t.done();
    }
  } finally {
    await w.close();
  }
});

Deno.test("an interactive tunnel stays responsive while bulk saturates the same connection both ways", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("a");
    const r = await interactiveUnderBulk(w);
    assertEquals(w.broker.connectionCount("a"), 1);
    console.log(
      `one connection: interactive round trip under bulk p50 ${r.p50.toFixed(2)} ms, p99 ${
        r.p99.toFixed(2)
      } ms; bulk moved ${r.movedMiB.toFixed(0)} MiB`,
    );
    // A functional bound only (the machine is shared): the echo is never starved by the bulk.
    assert(r.p99 < 2_000, `p99 ${r.p99} ms`);
  } finally {
    await w.close();
  }
});

Deno.test("both ends of a real data connection keep at most DATA_NOTSENT_LOWAT unsent bytes in the kernel", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("a");
    const t = await w.open("a", w.echoPort);
    await writeAll(t.socket, new Uint8Array([7]));
    assertEquals(await readN(t.socket, 1), new Uint8Array([7]));
    const peers = w.dataPeers();
    assertEquals(peers.length, 1);
    if (Deno.build.os === "linux") {
      // The cloud's accepted socket (inherited from its listener) and the agent's dialed one.
      assertEquals(readNotSentLowat(w.data.port, peers[0]), DATA_NOTSENT_LOWAT, "cloud");
      assertEquals(readNotSentLowat(peers[0], w.data.port), DATA_NOTSENT_LOWAT, "agent");
    }
    t.socket.close();
    t.done();
  } finally {
    await w.close();
  }
});

Deno.test("bulk on every data connection grows the pool; the next interactive tunnel gets a quiet one", async () => {
  const w = await world();
  try {
    w.agent("a");
    const r = await interactiveUnderBulk(
      w,
      () =>
        until(
          "a second connection for the busy agent",
          () => w.broker.connectionCount("a") >= 2,
          15_000,
          20,
        ),
    );
    console.log(
      `pool: interactive round trip under bulk p50 ${r.p50.toFixed(2)} ms, p99 ${
        r.p99.toFixed(2)
      } ms; bulk moved ${r.movedMiB.toFixed(0)} MiB`,
    );
    assert(r.p99 < 2_000, `p99 ${r.p99} ms`);
  } finally {
    await w.close();
  }
});

Deno.test("a tunnel alone on its agent's data connections gets the solo window; a tunnel on another of them takes it back", async () => {
  const w = await world();
  try {
    w.agent("a");
    const bulk = await w.open("a", w.sourcePort);
    // The cloud's side of a download is its receiver: it grants the window.
    const stream = bulk.socket as MuxStream;
    let stop = false;
    const reading = (async () => {
      const buf = new Uint8Array(64 << 10);
      while (!stop && (await bulk.socket.read(buf)) !== null) { /* bulk */ }
    })();
    await until("the solo window", () => stream.window === SOLO_WINDOW, 15_000, 20);
    // The bulk makes its connection busy: the node asks for a second one, and places the next
    // tunnel there.
    await until("a second connection", () => w.broker.connectionCount("a") >= 2, 15_000, 20);
    const other = await w.open("a", w.echoPort);
    const otherStream = other.socket as MuxStream;
    assert(otherStream.session !== stream.session, "the other tunnel rides another connection");
    await until("back to the initial window", () => stream.window === INITIAL_WINDOW, 15_000, 20);
    assert(!stream.session.closed, "no credit overrun closed the connection");
    other.socket.close();
    other.done();
    await until("alone again: the solo window", () => stream.window === SOLO_WINDOW, 15_000, 20);
    stop = true;
    bulk.socket.close();
    bulk.done();
    await reading.catch(() => {});
  } finally {
    await w.close();
  }
});

Deno.test("a stalled tunnel holds one window and does not slow the others on its connection", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("a");
    const stalled = await w.open("a", w.sourcePort); // never read
    const t = await w.open("a", w.echoPort);
    const data = pattern(32 << 20, 3);
    const [, got] = await Promise.all([writeAll(t.socket, data), readN(t.socket, data.byteLength)]);
    assertEquals(got, data);
    // The broker's local tunnels are mux streams (a bridged one would be a BridgeTunnel).
    const held = stalled.socket as MuxStream;
    await until("the stalled window full", () => held.buffered === INITIAL_WINDOW, 15_000, 20);
    assertEquals(held.buffered, INITIAL_WINDOW);
    // The stalled tunnel still works once read.
    assertEquals((await readN(stalled.socket, 1 << 20)).byteLength, 1 << 20);
    stalled.socket.close();
    t.socket.close();
  } finally {
    await w.close();
  }
});

Deno.test("a data connection dropped mid-transfer closes exactly its tunnels; the pool reconnects", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("b");
    const other = await w.open("b", w.echoPort);
    const before = new Set(w.dataPeers());
    assertEquals(before.size, 1);
    w.agent("a");
    const mine = await Promise.all([1, 2, 3].map(() => w.open("a", w.echoPort)));
    const aPeer = w.dataPeers().find((p) => !before.has(p))!;
    // Bulk in flight on every tunnel of agent a.
    const flows = mine.map((t) =>
      Promise.all([
        writeAll(t.socket, pattern(64 << 20, 1)),
        readN(t.socket, 64 << 20),
      ]).then(() => null, (e) => e as Error)
    );
    await new Promise((r) => setTimeout(r, 50));
    // The network drops agent a's data connection.
    assertEquals(
      shutdownSocket(w.data.port, { transport: "tcp", hostname: "127.0.0.1", port: aPeer }),
      null,
    );
    for (const e of await Promise.all(flows)) {
      assert(e instanceof StreamError, `a tunnel of the dropped connection ended with ${e}`);
      assertEquals(e.code, "error");
      assert(/data connection/.test(e.message), e.message);
    }
    // Agent b's tunnel on its own connection is untouched.
    const msg = pattern(1000, 5);
    await writeAll(other.socket, msg);
    assertEquals(await readN(other.socket, msg.byteLength), msg);
    // The broker asks for a replacement, the agent dials it, new tunnels work.
    await until("agent a's pool back", () => w.broker.connectionCount("a") === 1, 15_000, 20);
    const again = await w.open("a", w.echoPort);
    await writeAll(again.socket, msg);
    assertEquals(await readN(again.socket, msg.byteLength), msg);
    again.socket.close();
    other.socket.close();
  } finally {
    await w.close();
  }
});

Deno.test("when the agent's control stream leaves, its data connections carry their live tunnels to the end, take no new ones, and close", async () => {
  const w = await world();
  try {
    w.agent("a");
    const live = await w.open("a", w.echoPort);
    w.broker.agentGone("a");
    assertEquals(w.broker.connectionCount("a"), 1);
    const msg = pattern(2048, 4);
    await writeAll(live.socket, msg);
    assertEquals(await readN(live.socket, msg.byteLength), msg);
    // The stream comes back: new tunnels go to a fresh connection, not the retired one.
    w.broker.agentConnected("a");
    const fresh = await w.open("a", w.echoPort);
    assertEquals(w.broker.connectionCount("a"), 2);
    live.socket.close();
    live.done();
    await until(
      "the retired connection closed",
      () => w.broker.connectionCount("a") === 1,
      15_000,
      20,
    );
    await writeAll(fresh.socket, msg);
    assertEquals(await readN(fresh.socket, msg.byteLength), msg);
    fresh.socket.close();
    w.broker.agentGone("a");
    await until(
      "the idle connection closed",
      () => w.broker.connectionCount("a") === 0,
      15_000,
      20,
    );
    await until("its socket gone", () => w.dataPeers().length === 0, 15_000, 20);
  } finally {
    await w.close();
  }
});

/** A data connection dialed with `ticket` whose far end never reads or answers (a dead process). */
async function silentConn(w: Awaited<ReturnType<typeof world>>, ticket: Uint8Array) {
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: w.data.port,
    caCerts: [w.ca.certPem],
  });
  await writeAll(conn, encodeDataHeader(ticket));
  return conn;
}

Deno.test("a restarted agent's new control stream gets a data connection of its own, even before the old stream's end is seen", async () => {
  const w = await world();
  const tickets: Uint8Array[] = [];
  let old: Deno.TlsConn | null = null;
  try {
    // The old process: its connection is bound, then it stops answering (and its stream's end
    // is never reported: the newer stream replaces it in the registry at once).
    w.agent("g", (t) => tickets.push(t));
    const first = (await untilValue("the first ticket", () => tickets.shift(), 15_000, 20))!;
    old = await silentConn(w, first);
    await until("the old connection bound", () => w.broker.connectionCount("g") === 1, 15_000, 20);
    // The new process says Hello: the registry replaces the session, the broker is told.
    w.agent("g");
    const t = await w.open("g", w.echoPort);
    const msg = pattern(4096, 7);
    await writeAll(t.socket, msg);
    assertEquals(await readN(t.socket, msg.byteLength), msg);
    t.socket.close();
    t.done();
  } finally {
    try {
      old?.close();
    } catch { /* closed */ }
    await w.close();
  }
});

Deno.test("a data connection whose agent is gone without a word is found at the first open, and the open placed on a fresh one", async () => {
  const w = await world({ openProbeMs: 500 });
  const tickets: Uint8Array[] = [];
  let dead: Deno.TlsConn | null = null;
  let real: DataPool | null = null;
  try {
    real = w.agent("h", (t) => {
      // The first connection goes silent; the ones after it are the agent's real pool's.
      if (!dead && tickets.length === 0) tickets.push(t);
      else real!.add({ route: w.route, port: w.data.port, caPem: w.ca.certPem }, t).catch(() => {});
    });
    const first = (await untilValue("the first ticket", () => tickets.shift(), 15_000, 20))!;
    dead = await silentConn(w, first);
    await until(
      "the silent connection bound",
      () => w.broker.connectionCount("h") === 1,
      15_000,
      20,
    );
    const t = await w.open("h", w.echoPort);
    const msg = pattern(4096, 9);
    await writeAll(t.socket, msg);
    assertEquals(await readN(t.socket, msg.byteLength), msg);
    assertEquals(w.broker.connectionCount("h"), 1, "the silent connection was closed");
    t.socket.close();
    t.done();
  } finally {
    try {
      dead?.close();
    } catch { /* closed */ }
    await w.close();
  }
});

/** What a client reads once the cloud ends its connection (null), failing after 15 s. */
async function endOf(c: Deno.Conn): Promise<number | null | "still open"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    c.read(new Uint8Array(1)).catch(() => null),
    new Promise<"still open">((r) => (timer = setTimeout(() => r("still open"), 15_000))),
  ]);
  clearTimeout(timer);
  return r;
}

/** A compromised agent speaking raw frames on its data connection. */
async function hostileConn(
  w: Awaited<ReturnType<typeof world>>,
  tickets: Uint8Array[],
  id = "h",
) {
  const ticket =
    (await untilValue("a ticket for the hostile agent", () => tickets.shift(), 15_000, 20))!;
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: w.data.port,
    caCerts: [w.ca.certPem],
  });
  await writeAll(conn, encodeDataHeader(ticket));
  await until("the hostile connection bound", () => w.broker.connectionCount(id) === 1, 15_000, 20);
  const frame = (
    type: number,
    stream: number,
    payload: Uint8Array = new Uint8Array(0),
    length?: number,
  ) => {
    const b = new Uint8Array(FRAME_HEADER + payload.byteLength);
    writeHeader(b, 0, type as 1, stream, length ?? payload.byteLength);
    b.set(payload, FRAME_HEADER);
    return b;
  };
  /** Resolves true once the cloud closed the connection (EOF or reset). */
  const closedByCloud = async () => {
    const buf = new Uint8Array(64 << 10);
    try {
      while ((await conn.read(buf)) !== null) { /* drain */ }
    } catch { /* reset */ }
    try {
      conn.close();
    } catch { /* closed */ }
    return true;
  };
  /**
   * Reads the cloud's OPEN and answers OPENED; returns the stream id. A PING before it (the
   * cloud measuring the round trip of a protocol 3 agent) is answered as an agent would.
   */
  const acceptOpen = async (): Promise<number> => {
    for (;;) {
      const head = new Uint8Array(FRAME_HEADER);
      let have = 0;
      while (have < FRAME_HEADER) have += (await conn.read(head.subarray(have)))!;
      const h = readHeader(head, 0);
      const body = new Uint8Array(h.length);
      have = 0;
      while (have < h.length) have += (await conn.read(body.subarray(have)))!;
      if (h.type === FrameType.PING) {
        await writeAll(conn, frame(FrameType.PONG, 0, body));
        continue;
      }
      assertEquals(h.type, FrameType.OPEN);
      await writeAll(conn, frame(FrameType.OPENED, h.stream));
      return h.stream;
    }
  };
  return { conn, frame, closedByCloud, acceptOpen };
}

Deno.test("hostile frames from a compromised agent close its connection and nothing else", async () => {
  const w = await world({ maxConns: 1 });
  try {
    w.agent("g");
    const good = await w.open("g", w.echoPort);
    const check = async () => {
      const msg = pattern(4096, 7);
      await writeAll(good.socket, msg);
      assertEquals(await readN(good.socket, msg.byteLength), msg);
    };
    const tickets: Uint8Array[] = [];
    w.agent("h", (t) => tickets.push(t));
    const cases: [string, (h: Awaited<ReturnType<typeof hostileConn>>) => Promise<unknown>][] = [
      [
        "DATA on a stream never opened",
        (h) => writeAll(h.conn, h.frame(FrameType.DATA, 12345, new Uint8Array([1]))),
      ],
      [
        "an OPEN from the agent",
        (h) => writeAll(h.conn, h.frame(FrameType.OPEN, 1, encodeOpen("127.0.0.1", 22))),
      ],
      [
        "a frame longer than the max",
        (h) => writeAll(h.conn, h.frame(FrameType.DATA, 1, new Uint8Array(0), 16 << 20)),
      ],
      ["a flood of zero-length DATA frames", async (h) => {
        const id = await h.acceptOpen();
        const one = h.frame(FrameType.DATA, id);
        const flood = new Uint8Array(one.byteLength * 10_000);
        for (let i = 0; i < 10_000; i++) flood.set(one, i * one.byteLength);
        await writeAll(h.conn, flood).catch(() => {});
      }],
      ["a PING flood", async (h) => {
        const ping = h.frame(FrameType.PING, 0, new Uint8Array(8));
        for (let i = 0; i < 1000; i++) await writeAll(h.conn, ping).catch(() => {});
      }],
      ["a window overflowing 2^31", async (h) => {
        const id = await h.acceptOpen();
        const inc = new Uint8Array(4);
        new DataView(inc.buffer).setUint32(0, MAX_WINDOW);
        await writeAll(h.conn, h.frame(FrameType.WINDOW, id, inc));
      }],
      ["DATA beyond the granted credit", async (h) => {
        const id = await h.acceptOpen();
        const chunk = h.frame(FrameType.DATA, id, new Uint8Array(64 << 10));
        for (let i = 0; i < INITIAL_WINDOW / (64 << 10) + 1; i++) {
          await writeAll(h.conn, chunk).catch(() => {});
        }
      }],
    ];
    for (const [what, act] of cases) {
      const h = await hostileConn(w, tickets);
      // Streams that need an open: the cloud opens one on the hostile connection.
      const opening = w.open("h", w.echoPort).catch((e) => e as Error);
      await act(h);
      await h.closedByCloud();
      await until(
        `${what}: connection dropped`,
        () => w.broker.connectionCount("h") === 0,
        15_000,
        20,
      );
      const tunnel = await opening;
      if (!(tunnel instanceof Error)) {
        // What arrived within the credit is delivered; then the tunnel ends with the error.
        const buf = new Uint8Array(64 << 10);
        let e: unknown;
        for (;;) {
          e = await tunnel.socket.read(buf).catch((e) => e as Error);
          if (typeof e !== "number") break;
        }
        assert(e instanceof StreamError, `${what}: the hostile tunnel ended with ${e}`);
        assert(/protocol error/.test(e.message), e.message);
      }
      await check(); // the good agent's tunnel keeps working after each case
    }
    // And the node still opens new tunnels for good agents.
    const fresh = await w.open("g", w.echoPort);
    await writeAll(fresh.socket, new Uint8Array([1, 2, 3]));
    assertEquals(await readN(fresh.socket, 3), new Uint8Array([1, 2, 3]));
    fresh.socket.close();
    good.socket.close();
  } finally {
    await w.close();
  }
});

Deno.test("the cloud measures the round trip (to grow windows) only on data connections of a protocol 3 agent", async () => {
  const w = await world({});
  try {
    /** The frame types the cloud sends first on a fresh data connection of `id`. */
    const firstFrames = async (id: string, protocol: number) => {
      const tickets: Uint8Array[] = [];
      w.agent(id, (t) => tickets.push(t), protocol);
      const h = await hostileConn(w, tickets, id);
      const opening = w.open(id, w.echoPort).catch(() => null);
      const types: number[] = [];
      const head = new Uint8Array(FRAME_HEADER);
      while (!types.includes(FrameType.OPEN)) {
        let have = 0;
        while (have < FRAME_HEADER) have += (await h.conn.read(head.subarray(have)))!;
        const f = readHeader(head, 0);
        const body = new Uint8Array(f.length);
        for (have = 0; have < f.length;) have += (await h.conn.read(body.subarray(have)))!;
        types.push(f.type);
        if (f.type === FrameType.OPEN) {
          // Refused, so the open settles at once.
          await writeAll(h.conn, h.frame(FrameType.CLOSE, f.stream, encodeClose("error", "test")));
        }
      }
      await opening;
      h.conn.close();
      return types;
    };
    assertEquals(await firstFrames("new", 3), [FrameType.PING, FrameType.OPEN]);
    assertEquals(await firstFrames("old", 2), [FrameType.OPEN]);
  } finally {
    await w.close();
  }
});

Deno.test("finding 7: a silent connection to the data port is closed at the bound and its socket released; unauthenticated connections are capped per source", async () => {
  const w = await world({ authTimeoutMs: 500, maxUnauthenticatedPerSource: 4 });
  try {
    // A TCP client that never sends a ClientHello.
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: w.data.port });
    const silentPort = (silent.localAddr as Deno.NetAddr).port;
    await until("the cloud's socket for it", () => w.dataPeers().includes(silentPort), 15_000, 20);
    // The cloud ends it: the client sees the end, and the cloud holds no socket for it.
    assertEquals(await endOf(silent), null);
    silent.close();
    await until(
      "the cloud's socket released",
      () => !w.dataPeers().includes(silentPort),
      15_000,
      20,
    );

    // A TLS client that finishes the handshake and never sends the preface: the same.
    const quiet = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: w.data.port,
      caCerts: [w.ca.certPem],
    });
    await quiet.handshake();
    assertEquals(await endOf(quiet), null);
    quiet.close();

    // Ten silent connections from one address: at most four are held at once.
    const many = await Promise.all(
      Array.from({ length: 10 }, () => Deno.connect({ hostname: "127.0.0.1", port: w.data.port })),
    );
    await until("some held", () => w.data.unauthenticated > 0, 15_000, 20);
    assert(w.data.unauthenticated <= 4, `${w.data.unauthenticated} held`);
    for (const end of await Promise.all(many.map(endOf))) assertEquals(end, null);
    many.forEach((c) => c.close());
    await until("all released", () => w.data.unauthenticated === 0, 15_000, 20);
    await until("no socket left on the data port", () => w.dataPeers().length === 0, 15_000, 20);
  } finally {
    await w.close();
  }
});

Deno.test("a balancer in --trusted-proxies may hold more unauthenticated connections than one site", async () => {
  // Every agent behind a TCP balancer arrives from its address: the per-source cap would refuse
  // most of a fleet reconnecting at once. Here the balancer is 127.0.0.1 (cap 6, others 2).
  const w = await world({
    authTimeoutMs: 5_000,
    maxUnauthenticatedPerSource: 2,
    trustedSource: (ip) => ip === "127.0.0.1",
    maxUnauthenticatedPerTrustedSource: 6,
  });
  try {
    const many = await Promise.all(
      Array.from({ length: 10 }, () => Deno.connect({ hostname: "127.0.0.1", port: w.data.port })),
    );
    await until(
      "six held (more than one site's two)",
      () => w.data.unauthenticated === 6,
      15_000,
      20,
    );
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(w.data.unauthenticated, 6, "never more than the balancer's cap");
    for (const end of await Promise.all(many.map(endOf))) assertEquals(end, null);
    many.forEach((c) => c.close());
    await until("all released", () => w.data.unauthenticated === 0, 15_000, 20);
  } finally {
    await w.close();
  }
});

Deno.test("a data dial refused in a crowd is tried again with its ticket; the open waiting for it is served", async () => {
  const w = await world({ maxUnauthenticatedPerSource: 1 });
  const lines: string[] = [];
  const agentLog = pino({ level: "debug" }, { write: (l: string) => void lines.push(l) });
  try {
    // Another client of the agent's address (a site behind the same NAT) holds the one place
    // for a connection before its ticket.
    const crowd = await Deno.connect({ hostname: "127.0.0.1", port: w.data.port });
    await until("the crowd's connection held", () => w.data.unauthenticated === 1, 15_000, 20);
    w.agent("a", undefined, PROTOCOL_VERSION, agentLog);
    const opening = w.open("a", w.echoPort);
    opening.catch(() => {}); // awaited below; a failure above must not leave it unhandled
    await until(
      "the agent's first dial refused",
      () => lines.some((l) => l.includes("data connection failed; trying again")),
      5_000,
      20,
    );
    crowd.close();
    const t = await opening;
    await writeAll(t.socket, new Uint8Array([1, 2, 3]));
    assertEquals(await readN(t.socket, 3), new Uint8Array([1, 2, 3]));
    t.socket.close();
    t.done();
    assertEquals(w.broker.connectionCount("a"), 1);
  } finally {
    await w.close();
  }
});

Deno.test("a ticket that expires while opens wait for a connection is replaced by a new one", async () => {
  const w = await world({ ticketTtlMs: 500 });
  try {
    let tickets = 0;
    const pool = w.agent("a", (ticket) => {
      // The first ticket's dial is lost on the way; the next is dialed as a real agent does.
      if (++tickets === 1) return;
      const ep = { route: w.route, port: w.data.port, caPem: w.ca.certPem, growWindows: true };
      pool.add(ep, ticket);
    });
    const t = await w.open("a", w.echoPort);
    assertEquals(tickets, 2);
    await writeAll(t.socket, new Uint8Array([9]));
    assertEquals(await readN(t.socket, 1), new Uint8Array([9]));
    t.socket.close();
    t.done();
  } finally {
    await w.close();
  }
});

/**
 * Agent `id` of world `w` whose n-th data dial (from 1) goes to port `portFor(n)`, telling the
 * broker when one fails for good, as a real agent's control stream does.
 */
function dialingAgent(
  w: Awaited<ReturnType<typeof world>>,
  id: string,
  portFor: (n: number) => number,
): { tickets(): number } {
  let n = 0;
  const pool = w.agent(id, (ticket) => {
    const ep = { route: w.route, port: portFor(++n), caPem: w.ca.certPem, growWindows: true };
    // (The first ticket comes while w.agent() runs, before `pool` is set.)
    queueMicrotask(() =>
      pool.add(ep, ticket, (reason) => w.broker.dataDialFailed(id, ticket, reason))
    );
  });
  return { tickets: () => n };
}

Deno.test("an agent that cannot reach the data port fails the opens waiting for it at once, saying why", async () => {
  const w = await world();
  try {
    // Every dial meets the data port as a site firewall that rejects it leaves it.
    const closed = closedPort();
    const agent = dialingAgent(w, "a", () => closed);
    // Failures for tickets it was not given change nothing.
    w.broker.dataDialFailed("a", new Uint8Array(16), "made up");
    const err = await w.open("a", w.echoPort).then(() => null, (e: unknown) => e);
    assert(err instanceof AppError, String(err));
    assertEquals(err.code, "agent_data_unreachable");
    assertEquals(err.httpStatus, 502);
    assert(err.message.startsWith(CATALOGUE.agent_data_unreachable.message), err.message);
    assert(err.message.includes(`127.0.0.1:${closed}: `), err.message);
    assert(/refused/i.test(err.message), err.message);
    // Each open asks the agent once more (the network may have been fixed meanwhile).
    const before = agent.tickets();
    const again = await w.open("a", w.echoPort).then(() => null, (e: unknown) => e);
    assertEquals((again as AppError).code, "agent_data_unreachable");
    assertEquals(agent.tickets(), before + 1);
  } finally {
    await w.close();
  }
});

Deno.test("an agent left without a data connection after a failed dial is asked again by the node, with no open", async () => {
  const w = await world({ redialMs: 300 });
  try {
    // The first dial meets a blocked port (the site's firewall); then it was fixed.
    const closed = closedPort();
    const agent = dialingAgent(w, "a", (n) => n === 1 ? closed : w.data.port);
    await until(
      "a data connection, asked for again",
      () => w.broker.connectionCount("a") === 1,
      15_000,
      20,
    );
    assertEquals(agent.tickets(), 2);
    const t = await w.open("a", w.echoPort);
    await writeAll(t.socket, new Uint8Array([5]));
    assertEquals(await readN(t.socket, 1), new Uint8Array([5]));
    t.socket.close();
    t.done();
  } finally {
    await w.close();
  }
});
