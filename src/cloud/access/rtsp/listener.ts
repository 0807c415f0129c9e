/**
 * The RTSP gateway's TCP listener (`--rtsp`, default 0.0.0.0:9554): accepts player connections
 * and runs one RtspSession each; closing it ends every session. Deno's own TCP (read only when
 * asked) keeps backpressure end to end, like the data plane.
 * @module
 */
import type { ListenAddress } from "../../../shared/cli.ts";
import { type RtspDeps, RtspSession } from "./session.ts";
import { acceptLoop } from "../../../shared/transport/accept_loop.ts";

/** A running gateway. */
export interface RtspGateway {
  port: number;
  close(): Promise<void>;
}

/** Starts the gateway. */
export function startRtspGateway(listen: ListenAddress, d: RtspDeps): RtspGateway {
  const listener = Deno.listen({ hostname: listen.hostname, port: listen.port });
  const live = new Set<Deno.Conn>();
  const sessions = new Set<Promise<void>>();
  const serve = (conn: Deno.TcpConn) => {
    try {
      conn.setNoDelay(true);
    } catch { /* not TCP */ }
    live.add(conn);
    // A session's fault costs that player its connection, never the gateway.
    const s = new RtspSession(d, conn).run().catch((e) => {
      d.log.error({ err: (e as Error)?.message ?? String(e) }, "rtsp session failed");
      try {
        conn.close();
      } catch { /* closed */ }
    }).finally(() => {
      live.delete(conn);
      sessions.delete(s);
    });
    sessions.add(s);
  };
  // EMFILE and friends: keep accepting once the pressure is gone.
  const accepting = acceptLoop(
    listener,
    serve,
    (e) => d.log.warn({ err: e.message }, "rtsp accept failed"),
  );
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      try {
        listener.close();
      } catch { /* closed */ }
      await accepting;
      for (const c of live) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await Promise.allSettled([...sessions]);
    },
  };
}
