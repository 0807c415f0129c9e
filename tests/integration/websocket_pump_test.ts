/**
 * The whole tunnel byte path in one process, on 127.0.0.1:
 *
 *   test client ⇄ [CLI: net.Socket ⇄ ws client (pipeWebSocket, socketEnd "eof")]
 *     ⇄ [cloud: node:http upgrade + WebSocketServer ⇄ TLS data connection (pipeWebSocket)]
 *     ⇄ [agent: TLS socket ⇄ net.Socket (pipeSockets)] ⇄ TCP echo server
 *
 * The cloud's data side is the real data listener (mutual TLS, header, ticket bind); the agent
 * mirrors the dialer. The backpressure test swaps that hop for plain TCP, since Deno's node:tls
 * has none to test. Echoes are checked by SHA-256, and every echo runs under a watchdog so a
 * stall fails with the progress it made instead of hanging the run.
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";
import * as net from "node:net";
import * as tls from "node:tls";
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import { WebSocket, WebSocketServer } from "ws";
import { createCA, issueNodeCert, issueServerCert } from "../../src/shared/crypto/pki.ts";
import { createLogger } from "../../src/shared/log.ts";
import {
  DATA_HEADER_SIZE,
  decodeDataHeader,
  encodeDataHeader,
  TICKET_SIZE,
} from "../../src/shared/protocol/wire.ts";
import { pipeSockets } from "../../src/shared/transport/pipe.ts";
import { pipeWebSocket } from "../../src/shared/transport/websocket.ts";
import { startDataListener } from "../../src/cloud/control/data_listener.ts";
import type { TunnelBroker } from "../../src/cloud/control/tunnels.ts";

const MiB = 1 << 20;
const CHUNK = 256 << 10;
/**
 * What the test clients send: 64 random 256 KiB blocks in a shuffled order per stream. Reused
 * rather than fresh per write so the client itself makes no garbage that would blur the rss
 * reading of the slow-reader test.
 */
const BLOCKS = Array.from({ length: 64 }, () => randomBytes(CHUNK));
const AGENT = "agent-test";

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port));
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Reads the data header from a fresh socket, as the data listener does. */
function readHeader(sock: net.Socket): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const h = sock.read(DATA_HEADER_SIZE) as Uint8Array | null;
      if (h === null) return;
      sock.off("readable", onReadable);
      sock.off("end", onEnd);
      resolve(h);
    };
    const onEnd = () => reject(new Error("closed before the header"));
    sock.on("readable", onReadable);
    sock.on("end", onEnd);
  });
}

/**
 * Every hop of the chain, started; `close` stops them all and destroys what is left. With
 * `tls: false` the agent ⇄ cloud data hop is plain TCP (same header and ticket).
 */
async function startChain({ tls: useTls }: { tls: boolean }) {
  const sockets = new Set<Duplex>();
  const track = <T extends Duplex>(s: T): T => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
    return s;
  };
  const pumps: Promise<unknown>[] = [];

  // The device: a TCP echo server that answers FIN with FIN.
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    track(s);
    s.on("error", () => {});
    s.pipe(s);
  });
  const echoPort = await listen(echo);

  // PKI: the data listener's server certificate and the agent's client certificate.
  const ca = await createCA({ commonName: "test CA" });
  const cloudCert = await issueServerCert({
    ca,
    commonName: "cloud",
    hostnames: ["127.0.0.1"],
  });
  const agentCert = await issueNodeCert({ ca, commonName: AGENT, hostnames: [AGENT] });

  // The cloud's data listener, with a broker that hands bound sockets to waiting upgrades.
  const waiting = new Map<string, (s: Duplex) => void>();
  const broker = {
    bind(cn: string, ticket: Uint8Array, socket: Duplex): boolean {
      const take = waiting.get(hex(ticket));
      if (cn !== AGENT || !take) return false;
      waiting.delete(hex(ticket));
      take(track(socket));
      return true;
    },
  } as unknown as TunnelBroker;
  let data: { port: number; close(): Promise<void> };
  if (useTls) {
    data = await startDataListener({
      listen: { hostname: "127.0.0.1", port: 0 },
      caPem: ca.certPem,
      certPem: cloudCert.certPem,
      keyPem: cloudCert.keyPem,
      broker,
      log: createLogger({ role: "cloud", level: "silent" }),
    });
  } else {
    const plain = net.createServer({ allowHalfOpen: true }, (sock) => {
      track(sock);
      sock.on("error", () => {});
      readHeader(sock).then(
        (h) => broker.bind(AGENT, decodeDataHeader(h) ?? new Uint8Array(0), sock) || sock.destroy(),
        () => sock.destroy(),
      );
    });
    data = { port: await listen(plain), close: () => closeServer(plain) };
  }

  // The agent's side of a tunnel, as the dialer does it: dial the device, dial the cloud's data
  // listener with the ticket, pipe the two.
  const agentOpen = (ticket: Uint8Array) => {
    const target = track(net.connect({ host: "127.0.0.1", port: echoPort, allowHalfOpen: true }));
    target.setNoDelay(true);
    const conn = track(
      useTls
        ? tls.connect({
          host: "127.0.0.1",
          port: data.port,
          ca: ca.certPem,
          cert: agentCert.certPem,
          key: agentCert.keyPem,
          allowHalfOpen: true,
          minVersion: "TLSv1.2",
        } as tls.ConnectionOptions)
        : net.connect({ host: "127.0.0.1", port: data.port, allowHalfOpen: true }),
    );
    conn.once(useTls ? "secureConnect" : "connect", () => {
      conn.setNoDelay(true);
      conn.write(encodeDataHeader(ticket));
      pumps.push(pipeSockets(target, conn));
    });
    conn.on("error", () => target.destroy());
  };

  // The cloud's HTTP server: open the tunnel through the agent, then upgrade and pump.
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 * MiB,
  });
  const cloud = http.createServer((_req, res) => res.writeHead(404).end());
  cloud.on("connection", (s: net.Socket) => track(s));
  cloud.on("upgrade", async (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) => {
    socket.on("error", () => {});
    const ticket = crypto.getRandomValues(new Uint8Array(TICKET_SIZE));
    const dataSock = await new Promise<Duplex>((resolve) => {
      waiting.set(hex(ticket), resolve);
      agentOpen(ticket);
    });
    wss.handleUpgrade(req, socket as net.Socket, head as Buffer, (ws) => {
      pumps.push(pipeWebSocket(ws, dataSock, {
        describeError: () => "agent disconnected",
        classifyEnd: () => Promise.resolve({ code: 1000, reason: "device closed the connection" }),
      }));
    });
  });
  const cloudPort = await listen(cloud);

  // The CLI: a local listener; each connection opens a WebSocket to the cloud and pumps.
  const cli = net.createServer({ allowHalfOpen: true }, (sock) => {
    track(sock);
    sock.setNoDelay(true);
    sock.pause();
    const ws = new WebSocket(`ws://127.0.0.1:${cloudPort}/api/tunnel/h`, {
      perMessageDeflate: false,
    });
    ws.on("error", () => sock.destroy());
    ws.on("open", () => {
      sock.resume();
      pumps.push(pipeWebSocket(ws, sock, { socketEnd: "eof" }));
    });
  });
  const cliPort = await listen(cli);

  return {
    cliPort,
    async close() {
      for (const c of wss.clients) c.terminate();
      for (const s of sockets) s.destroy();
      await Promise.all([closeServer(cli), closeServer(cloud), closeServer(echo), data.close()]);
      await Promise.all(pumps);
      wss.close();
    },
  };
}

interface EchoOptions {
  bytes: number;
  /** Stop reading for this long once the first byte came back. */
  readPauseMs?: number;
  /** Called (once) while reading is paused, with the bytes written and read so far. */
  duringPause?: (progress: () => { sent: number; received: number }) => Promise<void>;
  /** Fail if the echo has not finished by then. */
  timeoutMs: number;
}

/**
 * Connects to the CLI listener, writes `bytes` random bytes (honouring backpressure) and
 * half-closes, reading the echo concurrently; resolves with the SHA-256 of each direction.
 */
function echoThrough(port: number, o: EchoOptions): Promise<{ sent: string; received: string }> {
  return new Promise((resolve, reject) => {
    const sentHash = createHash("sha256");
    const recvHash = createHash("sha256");
    let sent = 0;
    let received = 0;
    let settled = false;
    const sock = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
    const fail = (e: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      sock.destroy();
      reject(e);
    };
    const watchdog = setTimeout(() => {
      fail(
        new Error(
          `echo of ${o.bytes / MiB} MiB stalled: after ${o.timeoutMs} ms sent ${sent} bytes, ` +
            `received ${received} bytes back`,
        ),
      );
    }, o.timeoutMs);
    sock.on("error", fail);

    const write = async () => {
      const order = randomBytes(1 << 12);
      let k = 0;
      while (sent < o.bytes && !settled) {
        const block = BLOCKS[order[k++ % order.length] % BLOCKS.length];
        const b = block.subarray(0, Math.min(CHUNK, o.bytes - sent));
        sentHash.update(b);
        sent += b.byteLength;
        if (!sock.write(b)) {
          await new Promise<void>((r) => {
            const go = () => {
              sock.off("drain", go);
              sock.off("close", go);
              r();
            };
            sock.on("drain", go);
            sock.on("close", go);
          });
        }
      }
      if (!settled) sock.end();
    };

    let paused = !!o.readPauseMs;
    sock.on("data", (c: Uint8Array) => {
      recvHash.update(c);
      received += c.byteLength;
      if (paused) {
        paused = false;
        sock.pause();
        Promise.all([
          new Promise((r) => setTimeout(r, o.readPauseMs)),
          o.duringPause?.(() => ({ sent, received })),
        ]).then(() => sock.resume(), fail);
      }
    });
    sock.on("end", () => {
      if (settled) return;
      settled = true;
      clearTimeout(watchdog);
      sock.destroy();
      resolve({ sent: sentHash.digest("hex"), received: recvHash.digest("hex") });
    });
    sock.once("connect", () => {
      sock.setNoDelay(true);
      write().catch(fail);
    });
  });
}

async function expectEcho(port: number, o: EchoOptions): Promise<void> {
  const t0 = performance.now();
  const r = await echoThrough(port, o);
  assert.equal(r.received, r.sent, `echo of ${o.bytes / MiB} MiB came back different`);
  console.log(`  ${o.bytes / MiB} MiB echoed in ${Math.round(performance.now() - t0)} ms`);
}

interface SlowReaderStats {
  /** rss growth from just before the echo to the peak during the pause, MiB. */
  rssGrowth: number;
  /** The most written but not yet read back during the pause, MiB. */
  inFlight: number;
  /** Whether the writer made no progress at all over the second half of the pause. */
  writerStalled: boolean;
}

/** Echoes `bytes` to a reader that stops for 2 s, sampling memory and progress meanwhile. */
async function slowReader(port: number, bytes: number): Promise<SlowReaderStats> {
  const baseline = Deno.memoryUsage().rss;
  let peak = baseline;
  let inFlight = 0;
  let sentHalfway = 0;
  let sentAtEnd = 0;
  await expectEcho(port, {
    bytes,
    readPauseMs: 2_000,
    timeoutMs: 30_000,
    duringPause: async (progress) => {
      for (let i = 0; i < 19; i++) {
        await new Promise((r) => setTimeout(r, 100));
        peak = Math.max(peak, Deno.memoryUsage().rss);
        const p = progress();
        inFlight = Math.max(inFlight, p.sent - p.received);
        if (i === 8) sentHalfway = p.sent;
        sentAtEnd = p.sent;
      }
    },
  });
  const r = {
    rssGrowth: (peak - baseline) / MiB,
    inFlight: inFlight / MiB,
    writerStalled: sentAtEnd === sentHalfway && sentAtEnd < bytes,
  };
  console.log(
    `  while the reader was paused: rss +${r.rssGrowth.toFixed(1)} MiB, ` +
      `${r.inFlight.toFixed(1)} MiB written but not read back, ` +
      `writer ${r.writerStalled ? "stalled" : "kept going"}`,
  );
  return r;
}

Deno.test("websocket pump: a slow reader holds memory, then gets every byte", async () => {
  // Over a plain TCP data hop: backpressure must reach the writer through both pumps. What stays
  // in flight then sits in kernel socket buffers (loopback autotunes them to many MiB each), so
  // the checks are that the writer stops and that the process does not hold the bytes.
  const chain = await startChain({ tls: false });
  try {
    // Warm up first: the first 64 MiB through a fresh process grow rss by ~100 MiB of garbage and
    // one-off allocations even without a pause, which would drown the reading.
    await expectEcho(chain.cliPort, { bytes: 64 * MiB, timeoutMs: 30_000 });
    const r = await slowReader(chain.cliPort, 256 * MiB);
    assert.ok(r.writerStalled, "the writer kept writing while the reader was paused");
    assert.ok(
      r.rssGrowth < 100,
      `rss grew ${r.rssGrowth.toFixed(1)} MiB while the reader was paused`,
    );
  } finally {
    await chain.close();
  }
});

Deno.test("websocket pump: a slow reader over the TLS data hop gets every byte", async () => {
  // No backpressure check here: Deno's node:tls keeps reading TCP into a native buffer while a
  // socket is paused, so the writer never stops and all 64 MiB pile up along the way whatever
  // the pumps do. This case used to stall: the agent's FIN reached that buffer while the
  // cloud's socket was paused and was lost.
  const chain = await startChain({ tls: true });
  try {
    await slowReader(chain.cliPort, 64 * MiB);
  } finally {
    await chain.close();
  }
});

Deno.test("websocket pump: 64 MiB echo through the whole chain", async () => {
  const chain = await startChain({ tls: true });
  try {
    await expectEcho(chain.cliPort, { bytes: 64 * MiB, timeoutMs: 30_000 });
  } finally {
    await chain.close();
  }
});

Deno.test("websocket pump: 256 MiB echo does not stall", async () => {
  const chain = await startChain({ tls: true });
  try {
    await expectEcho(chain.cliPort, { bytes: 256 * MiB, timeoutMs: 60_000 });
  } finally {
    await chain.close();
  }
});

Deno.test("websocket pump: 20 concurrent 4 MiB echoes", async () => {
  const chain = await startChain({ tls: true });
  try {
    await Promise.all(
      Array.from(
        { length: 20 },
        () => expectEcho(chain.cliPort, { bytes: 4 * MiB, timeoutMs: 30_000 }),
      ),
    );
  } finally {
    await chain.close();
  }
});
