/**
 * The data channel listener: TLS (the server certificate chains to the agent CA the agent has
 * pinned). Each connection must open with the fixed header whose one-time ticket the cloud sent
 * to one authenticated agent on its mTLS control stream; the broker binds it to that tunnel, or
 * it is closed. After that it is a plain byte stream.
 *
 * Why Deno's own TLS and a ticket rather than node:tls with client certificates: on Deno 2.9 a
 * paused node:tls socket keeps reading into a native buffer (no backpressure: a slow operator
 * would make the cloud buffer a camera stream without bound) and can lose the peer's end of
 * stream. Deno.listenTls reads only when asked but cannot request client certificates, so the
 * data connection is authenticated by the ticket: 128 random bits, single use, valid for
 * TICKET_TTL_MS, known only to the cloud and the agent it was sent to over mTLS.
 * @module
 */
import { DATA_HEADER_SIZE, decodeDataHeader } from "../../shared/protocol/wire.ts";
import type { Logger } from "../../shared/log.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { TunnelBroker } from "./tunnels.ts";
import { setListenerNoDelay } from "../../shared/transport/nodelay.ts";

/** A running data listener. */
export interface DataListener {
  port: number;
  /**
   * Serves a renewed key pair to new connections. Deno's TLS listener cannot change its
   * certificate, so the listener is replaced on the same port (open connections stay).
   */
  setIdentity(pair: { certPem: string; keyPem: string }): Promise<void>;
  close(): Promise<void>;
}

/** Reads exactly `n` bytes or fails after `timeoutMs` (the connection is then closed). */
export async function readExactly(
  conn: Deno.Conn,
  n: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  let have = 0;
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (have < n) {
      const got = await conn.read(buf.subarray(have));
      if (got === null) throw new Error("closed before header");
      have += got;
    }
    return buf;
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the data listener. */
export function startDataListener(opts: {
  listen: ListenAddress;
  certPem: string;
  keyPem: string;
  broker: TunnelBroker;
  log: Logger;
}): Promise<DataListener> {
  const listen = (pair: { certPem: string; keyPem: string }, port: number) => {
    const l = Deno.listenTls({
      hostname: opts.listen.hostname,
      port,
      cert: pair.certPem,
      key: pair.keyPem,
    });
    // Without it every small write from the cloud waits for the agent's delayed ACK (nodelay.ts).
    const noDelay = setListenerNoDelay((l.addr as Deno.NetAddr).port);
    if (noDelay) opts.log.warn({ reason: noDelay }, "data connections keep Nagle's algorithm");
    return l;
  };
  let listener = listen(opts, opts.listen.port);
  const port = (listener.addr as Deno.NetAddr).port;
  const open = new Set<Deno.Conn>();
  const accept = async (conn: Deno.TlsConn) => {
    open.add(conn);
    try {
      const ticket = decodeDataHeader(await readExactly(conn, DATA_HEADER_SIZE, 10_000));
      if (ticket && opts.broker.bind(ticket, conn)) return;
      opts.log.warn(
        { remote: (conn.remoteAddr as Deno.NetAddr).hostname },
        "data connection refused: bad or unknown ticket",
      );
    } catch (e) {
      opts.log.debug({ err: (e as Error).message }, "data connection dropped before header");
    } finally {
      open.delete(conn);
    }
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const serve = async (l: Deno.TlsListener) => {
    for (;;) {
      let conn: Deno.TlsConn;
      try {
        conn = await l.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return;
        opts.log.debug({ err: (e as Error).message }, "data channel accept failed");
        continue;
      }
      accept(conn);
    }
  };
  let loop = serve(listener);
  let closed = false;
  return Promise.resolve({
    port,
    async setIdentity(pair) {
      if (closed) return;
      listener.close();
      // The port is released only once the pending accept has ended.
      await loop;
      // Should the port be taken meanwhile, keep trying: the data plane must come back.
      for (let attempt = 0; !closed; attempt++) {
        try {
          listener = listen(pair, port);
          loop = serve(listener);
          return;
        } catch (e) {
          if (attempt === 0) {
            opts.log.error({ err: (e as Error).message, port }, "data listener cannot re-listen");
          }
          await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        }
      }
    },
    async close() {
      closed = true;
      try {
        listener.close();
      } catch { /* already closed by setIdentity */ }
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  });
}
