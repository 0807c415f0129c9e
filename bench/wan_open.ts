/**
 * Opening a tunnel when the operator is a real network away from the cloud. This machine's
 * kernel has no `netem` (nor `prio`) qdisc, so the link is a proxy in front of the cloud's HTTP
 * port that delays what it carries: each chunk one way `oneWayMs` later, and a new connection's
 * first bytes held until the TCP handshake a real link would have cost (one round trip) is over.
 * Through it: the CLI (`connector tunnel open`, which keeps a connection dialed ahead,
 * `src/tunnel/spare.ts`) and the raw WebSocket tunnel opened by the bench (a fresh connection
 * each time), each timed from connect to the echo of one byte.
 * @module
 */
import { Proc } from "../tests/_fixtures/stack.ts";
import type { World } from "./world.ts";
import { tcpStream, wsStream } from "./streams.ts";
import { firstByte } from "./workloads.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Copies `src` → `dst`, each chunk delivered `delayMs` after it was read, none before `from`. */
async function delayed(
  src: Deno.Conn,
  dst: Deno.Conn,
  delayMs: number,
  from: number,
): Promise<void> {
  const queue: { at: number; data: Uint8Array }[] = [];
  let ended = false;
  let wake = null as (() => void) | null;
  const writer = (async () => {
    for (;;) {
      while (queue.length === 0 && !ended) await new Promise<void>((r) => (wake = r));
      const next = queue.shift();
      if (!next) break;
      const wait = next.at - performance.now();
      if (wait > 0) await sleep(wait);
      let off = 0;
      while (off < next.data.byteLength) off += await dst.write(next.data.subarray(off));
    }
    await dst.closeWrite();
  })();
  try {
    for (;;) {
      const buf = new Uint8Array(64 << 10);
      const n = await src.read(buf);
      if (n === null) break;
      queue.push({ at: Math.max(performance.now() + delayMs, from), data: buf.subarray(0, n) });
      wake?.();
    }
  } finally {
    ended = true;
    wake?.();
    await writer;
  }
}

/** A delaying proxy to 127.0.0.1:`upstream` (see the module comment). */
export function delayProxy(upstream: number, oneWayMs: number): { port: number; close(): void } {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const client of l) {
      // The handshake a real link costs: the client could send only one round trip from now.
      const from = performance.now() + 2 * oneWayMs;
      (async () => {
        const server = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
        client.setNoDelay(true);
        server.setNoDelay(true);
        open.add(client).add(server);
        await Promise.allSettled([
          delayed(client, server, oneWayMs, from + oneWayMs),
          delayed(server, client, oneWayMs, 0),
        ]);
        for (const c of [client, server]) {
          open.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    close() {
      l.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** Open + first byte p50/p99 over a link of `rttMs`, `n` opens per path. */
export async function measureWanOpen(
  w: World,
  rttMs: number,
  n: number,
): Promise<{ path: string; p50: number; p99: number }[]> {
  const proxy = delayProxy(w.stack.ports.http, rttMs / 2);
  const cloud = `http://127.0.0.1:${proxy.port}`;
  const cli = new Proc(
    ["tunnel", "open", w.handles.echo, "--cloud", cloud, "--listen", "127.0.0.1:0"],
    { NC_TOKEN: w.apiToken },
  );
  try {
    const line = await cli.waitFor(/^\{"listen":/);
    const port = Number(JSON.parse(line).listen.split(":").at(-1));
    const viaCli = await firstByte(() => tcpStream("127.0.0.1", port), n);
    const viaWs = await firstByte(
      () => wsStream(`${cloud}/api/tunnel/${w.handles.echo}`, w.apiToken),
      n,
    );
    return [
      { path: "CLI tunnel (a connection dialed ahead)", ...viaCli },
      { path: "WebSocket tunnel (a fresh connection each open)", ...viaWs },
    ];
  } finally {
    await cli.stop("SIGKILL");
    proxy.close();
  }
}
