/**
 * A link with a round trip, on loopback: this machine's kernel has no `netem` qdisc, so a proxy
 * delays what it carries — each chunk one way `oneWayMs` after it was read (in order, without
 * bound: the senders' own windows limit what is in flight), and a new connection's first bytes
 * held until the TCP handshake a real link would have cost (one round trip) is over. The bench
 * puts it in front of the cloud (`bench/wan_open.ts`), between two mux sessions and between
 * `ssh` and `sshd` (`bench/wan_bulk.ts`); the mux tests use it for a long link.
 * @module
 */
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
  })().catch(() => {
    // The far end is gone (a write met EPIPE or a reset) while chunks were still in flight to
    // it: cut the connection this direction reads from too, as a reset across a real link
    // would, so the reader ends instead of the rejection going unheard.
    queue.length = 0;
    try {
      src.close();
    } catch { /* closed */ }
  });
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

/** A running delaying proxy. */
export interface DelayProxy {
  /** Where it listens (127.0.0.1). */
  readonly port: number;
  /** Connections it accepted so far. */
  readonly accepted: number;
  /** Connections it carries now (accepted and not yet ended both ways). */
  readonly carrying: number;
  /** Stops listening and cuts every connection. */
  close(): void;
}

/**
 * A delaying proxy to 127.0.0.1:`upstream`, `oneWayMs` each way (see the module comment). The
 * upstream port may be given as a function, read at each connection: for a server that learns
 * the proxy's port before it has its own.
 */
export function delayProxy(upstream: number | (() => number), oneWayMs: number): DelayProxy {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let accepted = 0;
  let carrying = 0;
  (async () => {
    for await (const client of l) {
      accepted++;
      // The handshake a real link costs: the client could send only one round trip from now.
      const from = performance.now() + 2 * oneWayMs;
      carrying++;
      (async () => {
        const port = typeof upstream === "number" ? upstream : upstream();
        const server = await Deno.connect({ hostname: "127.0.0.1", port });
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
      })().catch(() => {
        // The upstream refused: the client sees its connection end, as across a real link.
        try {
          client.close();
        } catch { /* closed */ }
      }).finally(() => carrying--);
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    get accepted() {
      return accepted;
    },
    get carrying() {
      return carrying;
    },
    close() {
      try {
        l.close();
      } catch { /* closed before */ }
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
