/**
 * The serving loop the test's relays share (the CONNECT proxy, the SOCKS5 proxy, the TLS front):
 * each accepted connection goes to `serve`, and every connection it opens for it is tracked, so
 * that all of them are closed when `serve` ends and when the server closes — a test that stops
 * its proxy mid-transfer leaves no socket behind. Also the request-head reading two of them do.
 * @module
 */

/** A running server. */
export interface ConnServer {
  port: number;
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>;
}

/**
 * Serves `listener`: `serve(conn, track)` handles one accepted connection; `track` adds one it
 * opened (its upstream) to what is closed with it.
 */
export function serveConns<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  serve: (conn: C, track: (other: Deno.Conn) => void) => Promise<unknown>,
): ConnServer {
  const open = new Set<Deno.Conn>();
  const shut = (c: Deno.Conn) => {
    open.delete(c);
    try {
      c.close();
    } catch { /* closed */ }
  };
  const served = (async () => {
    for await (const conn of listener) {
      const mine: Deno.Conn[] = [conn];
      open.add(conn);
      serve(conn, (other) => {
        mine.push(other);
        open.add(other);
      }).catch(() => {/* a client or target that went away */}).finally(() => mine.forEach(shut));
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const c of open) shut(c);
      await served.catch(() => {});
    },
  };
}

/**
 * A connection's first request head, read byte by byte up to its blank line (at most 16 KiB):
 * what follows it is the client's TLS or tunnel, and none of it is consumed.
 */
export async function readHead(conn: Deno.Conn): Promise<Uint8Array> {
  const bytes: number[] = [];
  const one = new Uint8Array(1);
  while (bytes.length < 16_384 && !/\r\n\r\n$/.test(String.fromCharCode(...bytes.slice(-4)))) {
    if ((await conn.read(one)) === null) break;
    bytes.push(one[0]);
  }
  return new Uint8Array(bytes);
}
