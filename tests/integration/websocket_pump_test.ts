/**
 * The whole tunnel byte path in one process, on 127.0.0.1:
 *
 *   test client (Deno.connect)
 *     ⇄ [CLI: Deno.listen ⇄ ws client (pipeWebSocket, socketEnd "eof")]
 *     ⇄ [cloud: node:http upgrade + WebSocketServer ⇄ a stream on the multiplexed data
 *        connection from the real data listener (pipeWebSocket; natively, startWebSocketPump
 *        as the cloud's tunnel endpoint)]
 *     ⇄ [agent: Deno.connect to the device ⇄ the same stream on its end of that one TLS
 *        connection (pipeConns), as src/agent/data_pool.ts and dialer.ts do]
 *     ⇄ node:net TCP echo server
 *
 * Echoes are checked by SHA-256, and every echo runs under a watchdog so a stall fails with the
 * progress it made instead of hanging the run. Every hop now reads only when asked, so a reader
 * that stops must stop the writer (backpressure) without the process holding the bytes.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import v8 from "node:v8";
import vm from "node:vm";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import WebSocket, { WebSocketServer } from "ws";
import { createCA, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { createLogger } from "../../src/shared/log.ts";
import { encodeDataHeader, TICKET_SIZE } from "../../src/shared/protocol/wire.ts";
import { pipeConns } from "../../src/shared/transport/pipe.ts";
import { pipeWebSocket, startWebSocketPump } from "../../src/shared/transport/websocket.ts";
import { startDataListener } from "../../src/cloud/control/data_listener.ts";
import {
  type ByteStream,
  MuxSession,
  type MuxStream,
} from "../../src/shared/transport/mux_session.ts";
import { acceptKey, NativeWebSocket } from "../../src/shared/transport/ws_native.ts";
import { connectWebSocket } from "../../src/shared/transport/ws_connect.ts";

const MiB = 1 << 20;
const CHUNK = 256 << 10;
/**
 * What the test clients send: 64 random 256 KiB blocks in a shuffled order per stream. Reused
 * rather than fresh per write so the client itself makes no garbage that would blur the rss
 * reading of the slow-reader tests.
 */
const BLOCKS = Array.from({ length: 64 }, () => new Uint8Array(randomBytes(CHUNK)));

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeConn(c: Deno.Conn): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Every hop of the chain, started; `close` stops them all and closes what is left. `native`:
 * the cloud's hop and the CLI's WebSocket are the native ones the product uses
 * (`ws_native.ts` on Deno connections, as `native_front.ts` and `ws_connect.ts` do), else
 * `node:http` + `ws` (what the cloud still uses for other upgrades).
 */
async function startChain(native = false) {
  const sockets = new Set<Duplex>();
  const track = <T extends Duplex>(s: T): T => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    return s;
  };
  const conns = new Set<Deno.Conn>();
  const own = <T extends Deno.Conn>(c: T): T => (conns.add(c), c);
  const pumps: Promise<unknown>[] = [];
  // What a stall report shows: each hop's byte counts, its mux stream's flow, its WebSocket.
  const hops: Hop[] = [];

  // The device: a TCP echo server that answers FIN with FIN.
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    track(s);
    s.on("error", () => {});
    s.pipe(s);
  });
  const echoPort = await listen(echo);

  // PKI: the data listener's server certificate, under the CA the agent pins.
  const ca = await createCA({ commonName: "test CA" });
  const cloudCert = await issueServerCert({
    ca,
    commonName: "cloud",
    hostnames: ["localhost", "127.0.0.1"],
  });

  // The cloud's data listener; the one data connection the agent dials becomes a mux session.
  const ticket = crypto.getRandomValues(new Uint8Array(TICKET_SIZE));
  let bindCloud!: (s: MuxSession) => void;
  const cloudMux = new Promise<MuxSession>((r) => (bindCloud = r));
  const data = await startDataListener({
    listen: { hostname: "127.0.0.1", port: 0 },
    certPem: cloudCert.certPem,
    keyPem: cloudCert.keyPem,
    broker: {
      bindData(t: Uint8Array, conn: ByteStream): boolean {
        if (hex(t) !== hex(ticket)) return false;
        // As between a cloud and an agent of protocol 3: stream windows may grow.
        bindCloud(new MuxSession(conn, { role: "cloud", growWindows: true }));
        return true;
      },
    },
    log: createLogger({ role: "test", level: "silent" }),
  });

  // The agent's side, as data_pool.ts and dialer.ts do it: dial the data listener (pinned CA),
  // send the preface with the ticket, and for each OPEN dial the device and pipe the two.
  const agentConn = own(
    await Deno.connectTls({ hostname: "127.0.0.1", port: data.port, caCerts: [ca.certPem] }),
  );
  await writeAll(agentConn, encodeDataHeader(ticket));
  const agentMux = new MuxSession(agentConn, {
    role: "agent",
    growWindows: true,
    onOpen: (stream, _host, _port) => {
      const moved = { up: 0, down: 0 };
      hops.push({ name: "agent", bytes: () => [moved.up, moved.down], stream });
      pumps.push((async () => {
        const target = own(await Deno.connect({ hostname: "127.0.0.1", port: echoPort }));
        target.setNoDelay(true);
        if (stream.accept()) {
          await pipeConns(target, stream, (toStream, toDevice) => {
            moved.down += toStream;
            moved.up += toDevice;
          });
        } else target.close();
      })());
    },
  });
  const mux = await cloudMux;

  // The cloud's HTTP server: open a stream through the agent, then upgrade and pump.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const cloud = http.createServer((_req, res) => res.writeHead(404).end());
  cloud.on("connection", (s: net.Socket) => track(s));
  cloud.on("upgrade", async (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) => {
    socket.on("error", () => {});
    const stream = mux.openStream("127.0.0.1", echoPort);
    try {
      await stream.opened;
    } catch {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket as net.Socket, head as Buffer, (ws) => {
      pumps.push(pipeWebSocket(ws, stream, {
        describeError: () => "agent disconnected",
        endReason: "device closed the connection",
        onStart: (live) =>
          hops.push({ name: "cloud", bytes: () => [live.wsToSocket, live.socketToWs], stream }),
      }));
    });
  });
  const cloudPort = native ? 0 : await listen(cloud);
  // The native cloud hop: read the upgrade request's head, answer 101, frame on the Deno conn.
  const front = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const nativeSockets = new Set<NativeWebSocket>();
  const fronting = (async () => {
    for await (const conn of front) {
      own(conn);
      conn.setNoDelay(true);
      pumps.push((async () => {
        const buf = new Uint8Array(16 << 10);
        let end = 0;
        let at = -1;
        while ((at = new TextDecoder().decode(buf.subarray(0, end)).indexOf("\r\n\r\n")) < 0) {
          const n = await conn.read(buf.subarray(end));
          if (n === null) return closeConn(conn);
          end += n;
        }
        const key = /sec-websocket-key: *(\S+)/i.exec(new TextDecoder().decode(buf))![1];
        const accept = acceptKey(key);
        const stream = mux.openStream("127.0.0.1", echoPort);
        try {
          await stream.opened;
        } catch {
          return closeConn(conn);
        }
        await writeAll(
          conn,
          new TextEncoder().encode(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
          ),
        );
        const ws = new NativeWebSocket(conn, { role: "server", head: buf.slice(at + 4, end) });
        nativeSockets.add(ws);
        // As the cloud's tunnel endpoint does: the pump without a promise, its end told to
        // an owner, its live counts returned at once (startWebSocketPump).
        let ended: () => void = () => {};
        const done = new Promise<void>((r) => (ended = r));
        let ends = 0;
        const live = startWebSocketPump(ws, stream, {
          describeError: () => "agent disconnected",
          endReason: "device closed the connection",
        }, {
          pumpEnded(r) {
            assert.equal(++ends, 1, "the owner hears of the end once");
            assert.equal(r, live, "the result is the live object the counts came from");
            ended();
          },
        });
        hops.push({
          name: "cloud",
          bytes: () => [live.wsToSocket, live.socketToWs],
          stream,
          native: ws,
        });
        await done;
      })());
    }
  })().catch(() => {});

  // The CLI: a local listener; each connection opens a WebSocket to the cloud and pumps.
  const cli = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clients = new Set<WebSocket>();
  const serve = (conn: Deno.TcpConn) => {
    own(conn);
    conn.setNoDelay(true);
    if (native) {
      const url = new URL(`ws://127.0.0.1:${(front.addr as Deno.NetAddr).port}/api/tunnel/h`);
      pumps.push(
        connectWebSocket(url, {}, true).then((r): Promise<unknown> | void => {
          if (!r.ok) return closeConn(conn);
          nativeSockets.add(r.ws);
          return pipeWebSocket(r.ws, conn, {
            socketEnd: "eof",
            onStart: (live) =>
              hops.push({
                name: "CLI",
                bytes: () => [live.socketToWs, live.wsToSocket],
                native: r.ws,
              }),
          });
        }),
      );
      return;
    }
    const ws = new WebSocket(`ws://127.0.0.1:${cloudPort}/api/tunnel/h`, {
      perMessageDeflate: false,
    });
    clients.add(ws);
    ws.on("close", () => clients.delete(ws));
    ws.on("error", () => closeConn(conn));
    ws.on("open", () =>
      pumps.push(pipeWebSocket(ws, conn, {
        socketEnd: "eof",
        onStart: (live) =>
          hops.push({ name: "CLI", bytes: () => [live.socketToWs, live.wsToSocket], ws }),
      })));
  };
  const accepting = (async () => {
    for await (const conn of cli) serve(conn);
  })().catch(() => {});

  const ports = new Set([
    echoPort,
    data.port,
    cloudPort,
    (front.addr as Deno.NetAddr).port,
    (cli.addr as Deno.NetAddr).port,
  ].filter((p) => p > 0));
  return {
    cliPort: (cli.addr as Deno.NetAddr).port,
    /** Where every hop's bytes stand, and the kernel's queues: what a stall report shows. */
    describe: () => describeHops(hops, ports),
    /** Every listening port of the chain: each of its connections has one end on one of them. */
    ports,
    async close() {
      cli.close();
      front.close();
      await accepting;
      await fronting;
      for (const ws of nativeSockets) ws.terminate();
      for (const ws of clients) ws.terminate();
      for (const ws of wss.clients) ws.terminate();
      for (const c of conns) closeConn(c);
      mux.close();
      agentMux.close();
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(cloud), closeServer(echo), data.close()]);
      await Promise.all(pumps);
      await new Promise<void>((r) => wss.close(() => r()));
    },
  };
}

/** One hop of the chain as a stall report shows it. */
interface Hop {
  name: string;
  /** Bytes this hop passed on so far: toward the device (up), toward the client (down). */
  bytes: () => [number, number];
  stream?: MuxStream;
  native?: NativeWebSocket;
  ws?: WebSocket;
}

/** Each hop's bytes each way, its stream's flow, its WebSocket's queue, and the kernel's queues. */
function describeHops(hops: Hop[], ports: Set<number>): string {
  const lines = hops.map((h) => {
    const parts = [h.name + ":"];
    const [up, down] = h.bytes();
    parts.push(`${up} up, ${down} down;`);
    if (h.stream) parts.push(`stream ${JSON.stringify(h.stream.flow)}`);
    if (h.native) {
      parts.push(`ws buffered ${h.native.bufferedAmount}, paused ${h.native.paused}`);
    }
    if (h.ws) parts.push(`ws buffered ${h.ws.bufferedAmount}, paused ${h.ws.isPaused}`);
    return "  " + parts.join(" ");
  });
  const queues = chainSockets(ports).filter((q) => q.tx || q.rx)
    .map((q) => `    ${q.local} → ${q.remote}: ${q.tx}, ${q.rx}`);
  return [...lines, "  kernel queues (local → remote: send, receive):", ...queues].join("\n");
}

/** Every TCP socket of the chain with its send and receive queue (`/proc/net/tcp`). */
function chainSockets(
  ports: Set<number>,
): { local: number; remote: number; tx: number; rx: number }[] {
  const out = [];
  for (const line of Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const local = parseInt(f[1].split(":")[1], 16);
    const remote = parseInt(f[2].split(":")[1], 16);
    if (!ports.has(local) && !ports.has(remote)) continue;
    const [tx, rx] = f[4].split(":").map((h) => parseInt(h, 16));
    out.push({ local, remote, tx, rx });
  }
  return out;
}

interface EchoOptions {
  bytes: number;
  /** What the chain's hops hold, for the stall report. */
  describe?: () => string;
  /** Stop reading for this long once `readPauseAfter` bytes came back. */
  readPauseMs?: number;
  /** When to stop reading: after this many bytes came back (default: the first byte). */
  readPauseAfter?: number;
  /** Called (once) while reading is paused, with the bytes written and read so far. */
  duringPause?: (progress: () => { sent: number; received: number }) => Promise<void>;
  /** Fail if the echo has not finished by then. */
  timeoutMs: number;
}

/**
 * Connects to the CLI listener, writes `bytes` random bytes (each write waits until the kernel
 * took it) and half-closes, reading the echo concurrently; resolves with the SHA-256 of each
 * direction.
 */
async function echoThrough(
  port: number,
  o: EchoOptions,
): Promise<{ sent: string; received: string }> {
  const sentHash = createHash("sha256");
  const recvHash = createHash("sha256");
  let sent = 0;
  let received = 0;
  let stalled: Error | null = null;
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  const watchdog = setTimeout(() => {
    stalled = new Error(
      `echo of ${o.bytes / MiB} MiB stalled: after ${o.timeoutMs} ms sent ${sent} bytes, ` +
        `received ${received} bytes back` + (o.describe ? `; the chain:\n${o.describe()}` : ""),
    );
    closeConn(conn);
  }, o.timeoutMs);

  const write = async () => {
    const order = randomBytes(1 << 12);
    let k = 0;
    while (sent < o.bytes) {
      const block = BLOCKS[order[k++ % order.length] % BLOCKS.length];
      const b = block.subarray(0, Math.min(CHUNK, o.bytes - sent));
      sentHash.update(b);
      await writeAll(conn, b);
      sent += b.byteLength;
    }
    await conn.closeWrite();
  };
  const read = async () => {
    const buf = new Uint8Array(CHUNK);
    let pause = !!o.readPauseMs;
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      recvHash.update(buf.subarray(0, n));
      received += n;
      if (pause && received >= (o.readPauseAfter ?? 1)) {
        pause = false;
        await Promise.all([
          new Promise((r) => setTimeout(r, o.readPauseMs)),
          o.duringPause?.(() => ({ sent, received })),
        ]);
      }
    }
  };

  const [w, r] = await Promise.allSettled([write(), read()]);
  clearTimeout(watchdog);
  closeConn(conn);
  if (stalled) throw stalled;
  if (w.status === "rejected") throw w.reason;
  if (r.status === "rejected") throw r.reason;
  return { sent: sentHash.digest("hex"), received: recvHash.digest("hex") };
}

async function expectEcho(port: number, o: EchoOptions): Promise<void> {
  const t0 = performance.now();
  const r = await echoThrough(port, o);
  assert.equal(r.received, r.sent, `echo of ${o.bytes / MiB} MiB came back different`);
  console.log(`  ${o.bytes / MiB} MiB echoed in ${Math.round(performance.now() - t0)} ms`);
}

/** A full garbage collection of this isolate (V8's `gc`, exposed at run time for this test). */
const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc");
})();

/**
 * What this isolate holds alive right now, bytes: its V8 heap plus the array buffers it keeps
 * (where every byte a JavaScript hop holds ends up), after a full collection so garbage from
 * bytes already passed on does not count.
 */
function isolateMemory(): number {
  collectGarbage();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/**
 * Bytes the kernel holds right now in the queues of every TCP socket with one end on `ports`
 * (send queue plus receive queue, from `/proc/net/tcp`): what may rightly be in flight along the
 * chain while its reader pauses. How much that is depends on the kernel's autotuning limits
 * (`net.ipv4.tcp_rmem` allows 32 MiB per receiving socket on some machines), not on the product.
 */
function kernelQueued(ports: Set<number>): number {
  return chainSockets(ports).reduce((total, q) => total + q.tx + q.rx, 0);
}

interface SlowReaderStats {
  /**
   * Growth of what this isolate holds alive (V8 heap plus array buffers, after a full
   * collection) from just before the echo to the peak during the pause, MiB. Not the process's rss: `deno test --parallel` runs other test files in the same process,
   * and their allocations would land in it.
   */
  memGrowth: number;
  /** The process's rss growth over the same span, MiB: printed, not asserted (see memGrowth). */
  rssGrowth: number;
  /** The most written but not yet read back during the pause, MiB. */
  inFlight: number;
  /**
   * The most written but not yet read back and NOT in a kernel socket queue of the chain at the
   * same moment, MiB: what the chain's processes themselves held (or had in transit).
   */
  outsideKernel: number;
  /** Bytes the writer got out over the second half of the pause, MiB. */
  lateProgress: number;
  /** Whether the writer made no progress for a whole second while the reader was paused. */
  writerStalled: boolean;
  /** The whole transfer, MiB. */
  total: number;
}

/**
 * Echoes `bytes` to a reader that stops for 2 s once `pauseAfter` bytes came back, sampling
 * memory and progress meanwhile.
 */
async function slowReader(
  chain: { cliPort: number; ports: Set<number>; describe: () => string },
  bytes: number,
  pauseAfter?: number,
): Promise<SlowReaderStats> {
  const port = chain.cliPort;
  let outsideKernel = 0;
  const baseline = Deno.memoryUsage().rss;
  let peak = baseline;
  const memBaseline = isolateMemory();
  let memPeak = memBaseline;
  let inFlight = 0;
  let sentHalfway = 0;
  let sentAtEnd = 0;
  // The reader stays paused until the writer has made no progress for a whole second (or 15 s
  // pass): how soon the buffers along the chain fill depends on how loaded the machine is, not
  // on the product, so the pause adapts instead of guessing a duration.
  let stalledFor = 0;
  await expectEcho(port, {
    describe: chain.describe,
    bytes,
    readPauseMs: 1,
    readPauseAfter: pauseAfter,
    timeoutMs: 90_000,
    duringPause: async (progress) => {
      let last = progress().sent;
      sentHalfway = last;
      for (let i = 0; i < 150 && stalledFor < 10; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, Deno.memoryUsage().rss);
        memPeak = Math.max(memPeak, isolateMemory());
        const p = progress();
        const queued = kernelQueued(chain.ports);
        inFlight = Math.max(inFlight, p.sent - p.received);
        outsideKernel = Math.max(outsideKernel, p.sent - p.received - queued);
        if (p.sent === last && p.sent < bytes) stalledFor++;
        else {
          stalledFor = 0;
          sentHalfway = p.sent;
        }
        last = p.sent;
        sentAtEnd = p.sent;
      }
    },
  });
  const r = {
    memGrowth: (memPeak - memBaseline) / MiB,
    rssGrowth: (peak - baseline) / MiB,
    inFlight: inFlight / MiB,
    outsideKernel: outsideKernel / MiB,
    lateProgress: (sentAtEnd - sentHalfway) / MiB,
    writerStalled: stalledFor >= 10 && sentAtEnd < bytes,
    total: bytes / MiB,
  };
  console.log(
    `  while the reader was paused: live heap + buffers +${r.memGrowth.toFixed(1)} MiB ` +
      `(process rss +${r.rssGrowth.toFixed(1)} MiB), ` +
      `${r.inFlight.toFixed(1)} MiB written but not read back ` +
      `(at most ${r.outsideKernel.toFixed(1)} MiB of it outside the kernel's socket queues), ` +
      `writer ${
        r.writerStalled ? "stalled" : `kept going (+${r.lateProgress.toFixed(1)} MiB late)`
      }`,
  );
  return r;
}

function assertBackpressure(r: SlowReaderStats): void {
  assert.ok(
    r.writerStalled,
    `the writer never stopped while the reader was paused (15 s): ${r.inFlight.toFixed(1)} MiB ` +
      `in flight`,
  );
  // Without backpressure the writer would push the whole transfer while nobody reads; with it,
  // only what the kernel's socket queues along the chain hold is in flight (40-75 MiB measured
  // on most runs, 83 MiB once on a loaded machine whose tcp_rmem allows 32 MiB per socket): so
  // what is in flight beyond those queues, sampled at the same moments, must stay small.
  assert.ok(
    r.outsideKernel < 32,
    `${r.outsideKernel.toFixed(1)} of ${r.inFlight.toFixed(1)} MiB in flight (of ${r.total}) ` +
      `were outside the kernel's socket queues while the reader was paused`,
  );
  // The chain holds about 6 MiB alive at the peak of a pause (measured): 32 leaves room for a
  // slower machine, and a hop that buffered the transfer would hold far more.
  assert.ok(
    r.memGrowth < 32,
    `live heap and buffers grew ${r.memGrowth.toFixed(1)} MiB while the reader paused`,
  );
}

/**
 * The first 64 MiB through a fresh process grow rss by ~75-85 MiB of garbage and one-off
 * allocations even without a pause (measured: a plain 128 MiB echo as the process's first),
 * which would drown the reading; push that much through first.
 */
async function warmUp(chain: { cliPort: number; describe: () => string }): Promise<void> {
  await expectEcho(chain.cliPort, { describe: chain.describe, bytes: 64 * MiB, timeoutMs: 30_000 });
}

for (const native of [false, true]) {
  const tag = native ? " (native WebSocket)" : "";

  Deno.test(`websocket pump${tag}: a slow reader holds memory, then gets every byte`, async () => {
    // What stays in flight sits in kernel socket buffers (loopback autotunes them to many MiB
    // each; the nine socket directions of the loop were measured holding about 40-75 MiB), so the
    // checks are that the writer stops and that the process does not hold the bytes.
    const chain = await startChain(native);
    try {
      await warmUp(chain);
      assertBackpressure(await slowReader(chain, 256 * MiB));
    } finally {
      await chain.close();
    }
  });

  Deno.test(`websocket pump${tag}: a reader that stops mid-stream is held back, then gets every byte`, async () => {
    // The pause hits with every pump running at full speed and the WebSocket queues busy. 160 MiB,
    // so that what is still to come after 32 MiB clearly exceeds what the kernel buffers hold.
    const chain = await startChain(native);
    try {
      await warmUp(chain);
      assertBackpressure(await slowReader(chain, 160 * MiB, 32 * MiB));
    } finally {
      await chain.close();
    }
  });

  Deno.test(`websocket pump${tag}: an end of stream that arrives while the reader is paused is kept`, async () => {
    // 4 MiB fits in the buffers along the way: the writer finishes and the echo's FIN travels
    // back while nobody reads; it must still arrive after the pause. (Over node:tls this used to
    // stall: the agent's FIN reached a native buffer while the cloud's socket was paused and was
    // lost; the cloud now reads its Deno.TlsConn only when asked.)
    const chain = await startChain(native);
    try {
      await expectEcho(chain.cliPort, {
        describe: chain.describe,
        bytes: 4 * MiB,
        readPauseMs: 2_000,
        timeoutMs: 30_000,
      });
    } finally {
      await chain.close();
    }
  });

  Deno.test(`websocket pump${tag}: 64 MiB echo through the whole chain`, async () => {
    const chain = await startChain(native);
    try {
      await expectEcho(chain.cliPort, {
        describe: chain.describe,
        bytes: 64 * MiB,
        timeoutMs: 30_000,
      });
    } finally {
      await chain.close();
    }
  });

  Deno.test(`websocket pump${tag}: 256 MiB echo does not stall`, async () => {
    const chain = await startChain(native);
    try {
      await expectEcho(chain.cliPort, {
        describe: chain.describe,
        bytes: 256 * MiB,
        timeoutMs: 60_000,
      });
    } finally {
      await chain.close();
    }
  });

  Deno.test(`websocket pump${tag}: 20 concurrent 4 MiB echoes`, async () => {
    const chain = await startChain(native);
    try {
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            expectEcho(chain.cliPort, {
              describe: chain.describe,
              bytes: 4 * MiB,
              timeoutMs: 30_000,
            }),
        ),
      );
    } finally {
      await chain.close();
    }
  });
}

Deno.test("websocket pump (native WebSocket): an interactive tunnel's round trip stays short while a bulk tunnel saturates the same data connection", async () => {
  // Both tunnels ride the chain's one multiplexed data connection; the bulk one echoes without
  // end, so both directions of that connection are saturated while the small round trips run.
  const chain = await startChain(true);
  try {
    const inter = await Deno.connect({ hostname: "127.0.0.1", port: chain.cliPort });
    inter.setNoDelay(true);
    const msg = new Uint8Array(64).fill(7);
    const back = new Uint8Array(64);
    const roundTrips = async (n: number) => {
      const rtts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = performance.now();
        await writeAll(inter, msg);
        for (let got = 0; got < msg.byteLength;) {
          const k = await inter.read(back.subarray(got));
          assert.ok(k !== null, "the interactive tunnel ended");
          got += k;
        }
        rtts.push(performance.now() - t);
      }
      rtts.sort((a, b) => a - b);
      return { p50: rtts[Math.floor(n * 0.5)], p99: rtts[Math.floor(n * 0.99)] };
    };
    // The same round trips with no bulk first: what the machine itself allows right now.
    const quiet = await roundTrips(300);
    const bulk = await Deno.connect({ hostname: "127.0.0.1", port: chain.cliPort });
    bulk.setNoDelay(true);
    let moved = 0;
    let stop = false;
    const pumpUp = (async () => {
      while (!stop) moved += await bulk.write(BLOCKS[moved % BLOCKS.length]);
    })().catch(() => {});
    const pumpDown = (async () => {
      const buf = new Uint8Array(CHUNK);
      while (!stop) {
        const n = await bulk.read(buf);
        if (n === null) break;
        moved += n;
      }
    })().catch(() => {});
    const t0 = performance.now();
    while (moved < 64 * MiB) {
      assert.ok(performance.now() - t0 < 60_000, `bulk did not get going: ${moved} bytes`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const { p50, p99 } = await roundTrips(500);
    const movedDuring = moved;
    stop = true;
    closeConn(bulk);
    closeConn(inter);
    await Promise.all([pumpUp, pumpDown]);
    console.log(
      `  interactive round trip: quiet p50 ${quiet.p50.toFixed(2)} ms, p99 ${
        quiet.p99.toFixed(2)
      } ms; under bulk p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms ` +
        `(bulk moved ${(movedDuring / MiB).toFixed(0)} MiB in all)`,
    );
    // A functional bound only (the machine is shared; issue 13's target is 20 ms): the small
    // frames are never starved by the bulk ahead of them.
    assert.ok(p99 < 2_000, `p99 ${p99} ms`);
  } finally {
    await chain.close();
  }
});
