/**
 * The cloud's WebSocket server, measured: the same bytes one way (client → server, counted by
 * the server; then server → client, counted by the client) through the three candidates for the
 * tunnel endpoints, in one process on loopback — (A) the native front's framing on a Deno
 * connection (`ws_native.ts`, in use), (B) `Deno.serve` + `Deno.upgradeWebSocket`, and the old
 * path, `node:http` + `ws`. One client for all three: the product's native client with the
 * all-zero mask the CLI and bench use, so the server's side is what differs. (B) cannot pause
 * its reading, which is why it is not in use whatever it measures (README "Performance").
 * @module
 */
import * as http from "node:http";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { acceptKey, NativeWebSocket } from "../src/shared/transport/ws_native.ts";
import { connectWebSocket } from "../src/shared/transport/ws_connect.ts";
import { cpuSeconds } from "./procfs.ts";

/** Gbit/s each way for one candidate, and the process's CPU seconds per GB moved. */
export interface WsServerResult {
  up: number;
  down: number;
  /** Client and server together (the client is the same for every candidate). */
  cpuSecPerGB: number;
}

const CHUNK = 64 << 10;

/** What a candidate server does: count what it receives; on "D", send `bytes` back. */
interface Candidate {
  url: string;
  close(): Promise<void> | void;
}

function onMessage(
  bytes: number,
  send: (b: Uint8Array) => Promise<void> | void,
): (m: Uint8Array) => void {
  let got = 0;
  const chunk = new Uint8Array(CHUNK).fill(3);
  return (m) => {
    if (m.byteLength === 1 && m[0] === 0x44) {
      (async () => {
        for (let sent = 0; sent < bytes; sent += CHUNK) await send(chunk);
      })();
      return;
    }
    got += m.byteLength;
    if (got >= bytes) {
      got = 0;
      send(new Uint8Array([0x4b]));
    }
  };
}

function nativeCandidate(bytes: number): Candidate {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    for await (const conn of l) {
      conn.setNoDelay(true);
      const buf = new Uint8Array(8192);
      let end = 0;
      let at = -1;
      while ((at = new TextDecoder().decode(buf.subarray(0, end)).indexOf("\r\n\r\n")) < 0) {
        end += (await conn.read(buf.subarray(end))) ?? 0;
      }
      const key = /sec-websocket-key: *(\S+)/i.exec(new TextDecoder().decode(buf))![1];
      const accept = acceptKey(key);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        ),
      );
      const ws = new NativeWebSocket(conn, { role: "server", head: buf.slice(at + 4, end) });
      const send = (b: Uint8Array) =>
        new Promise<void>((r) => {
          if (ws.bufferedAmount < 1 << 20) {
            ws.send(b, { binary: true });
            r();
          } else ws.send(b, { binary: true }, () => r());
        });
      ws.on("message", onMessage(bytes, send));
    }
  })().catch(() => {});
  return { url: `ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`, close: () => l.close() };
}

function denoServeCandidate(bytes: number): Candidate {
  const ac = new AbortController();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    signal: ac.signal,
    onListen: () => {},
  }, (req) => {
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.binaryType = "arraybuffer";
    const send = async (b: Uint8Array) => {
      while (socket.bufferedAmount > 1 << 20) await new Promise((r) => setTimeout(r, 1));
      socket.send(b);
    };
    const handle = onMessage(bytes, send);
    socket.onmessage = (e) => handle(new Uint8Array(e.data as ArrayBuffer));
    return response;
  });
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    close: async () => {
      ac.abort();
      await server.finished;
    },
  };
}

async function nodeWsCandidate(bytes: number): Promise<Candidate> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const server = http.createServer((_q, s) => s.writeHead(404).end());
  server.on("connection", (s: { setNoDelay(v: boolean): void }) => s.setNoDelay(true));
  server.on("upgrade", (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      const send = (b: Uint8Array) =>
        new Promise<void>((r) => {
          if (ws.bufferedAmount < 1 << 20) {
            ws.send(b, { binary: true });
            r();
          } else ws.send(b, { binary: true }, () => r());
        });
      ws.on("message", onMessage(bytes, send) as (m: unknown) => void);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        server.close(() => r());
        server.closeAllConnections?.();
      }),
  };
}

async function run(c: Candidate, bytes: number): Promise<WsServerResult> {
  const r = await connectWebSocket(new URL(c.url), {}, true);
  if (!r.ok) throw new Error(`candidate refused: ${r.status} ${r.message}`);
  const ws = r.ws;
  let wake: (() => void) | null = null;
  let got = 0;
  let acked = false;
  ws.on("message", (m: Uint8Array) => {
    if (m.byteLength === 1 && m[0] === 0x4b) acked = true;
    else got += m.byteLength;
    wake?.();
  });
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise<void>((w) => (wake = w));
  };
  const chunk = new Uint8Array(CHUNK).fill(5);
  const cpu0 = cpuSeconds(Deno.pid);
  let t0 = performance.now();
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    await new Promise<void>((ok) => {
      if (ws.bufferedAmount < 4 << 20) {
        ws.send(chunk, { binary: true });
        ok();
      } else ws.send(chunk, { binary: true }, () => ok());
    });
  }
  await until(() => acked);
  const up = (bytes * 8) / ((performance.now() - t0) / 1000) / 1e9;
  t0 = performance.now();
  ws.send(new Uint8Array([0x44]), { binary: true });
  await until(() => got >= bytes);
  const down = (bytes * 8) / ((performance.now() - t0) / 1000) / 1e9;
  const cpuSecPerGB = (cpuSeconds(Deno.pid) - cpu0) / ((2 * bytes) / 1e9);
  ws.terminate();
  return { up, down, cpuSecPerGB };
}

/** Throughput each way through each candidate server, `bytes` each way. */
export async function measureWsServers(
  bytes: number,
): Promise<{ native: WsServerResult; denoServe: WsServerResult; nodeWs: WsServerResult }> {
  const out: Record<string, WsServerResult> = {};
  for (
    const [name, make] of [
      ["native", nativeCandidate],
      ["denoServe", denoServeCandidate],
      ["nodeWs", nodeWsCandidate],
    ] as const
  ) {
    const c = await make(bytes);
    try {
      out[name] = await run(c, bytes);
    } finally {
      await c.close();
    }
  }
  return out as { native: WsServerResult; denoServe: WsServerResult; nodeWs: WsServerResult };
}
