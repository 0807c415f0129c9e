/**
 * The serving loop the test's relays share (the CONNECT proxy, the SOCKS5 proxy, the TLS front):
 * each accepted connection goes to `serve`, and every connection it opens for it is tracked, so
 * that all of them are closed when `serve` ends and when the server closes — a test that stops
 * its proxy mid-transfer leaves no socket behind.
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
