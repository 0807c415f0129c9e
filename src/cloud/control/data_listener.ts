/**
 * The data channel listener: TLS (the server certificate chains to the agent CA the agent has
 * pinned). Each connection must open with the 24-byte preface whose one-time ticket the cloud
 * sent to one authenticated agent on its mTLS control stream (`wire.ts`); the broker then makes
 * it one of that agent's multiplexed data connections, or it is closed.
 *
 * Why Deno's own TLS and a ticket rather than node:tls with client certificates: on Deno 2.9 a
 * paused node:tls socket keeps reading into a native buffer (no backpressure) and can lose the
 * peer's end of stream. Deno.listenTls reads only when asked but cannot request client
 * certificates (still true of 2.9.6), so the data connection is authenticated by the ticket.
 *
 * Until a connection is bound it is untrusted: the whole TLS handshake plus the preface must
 * finish within `authTimeoutMs`, and one source address may hold at most
 * `maxUnauthenticatedPerSource` such connections at once (more are closed at accept, before
 * any handshake work). A connection past its time is really ended: Deno keeps the socket of a
 * TLS connection stuck in its handshake after `close()`, so the socket is also shut down
 * (`socket_shutdown.ts`) and its descriptor released.
 * @module
 */
import { readExactly } from "../../shared/transport/read_exactly.ts";
import { DATA_HEADER_SIZE, decodeDataHeader } from "../../shared/protocol/wire.ts";
import type { Logger } from "../../shared/log.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { TunnelBroker } from "./tunnels.ts";
import { setListenerNoDelay } from "../../shared/transport/nodelay.ts";
import { setListenerNotSentLowat } from "../../shared/transport/notsent_lowat.ts";
import { shutdownSockets } from "../../shared/transport/socket_shutdown.ts";
import { acceptLoop } from "../../shared/transport/accept_loop.ts";

/** Default bound on handshake + preface. */
export const AUTH_TIMEOUT_MS = 10_000;
/**
 * Default cap on connections one address may hold before they present a ticket. Bounded (each
 * holds a TLS session), but not tight: many sites share a carrier NAT's address, and after a node
 * restart all their agents dial at once, while the node, busy with every agent coming back, is
 * slow to read their tickets (16 refused some in the bench's crowd; agents retry a refusal).
 */
export const MAX_UNAUTHENTICATED_PER_SOURCE = 64;
/**
 * The cap for an address in `--trusted-proxies`: a TCP balancer in front of the data port that
 * hides the agents' addresses brings every agent through its own, and a node restart brings them
 * all at once — 64 would refuse most of a fleet's dials at the moment it reconnects.
 */
export const MAX_UNAUTHENTICATED_PER_TRUSTED_SOURCE = 1024;

/** A running data listener. */
export interface DataListener {
  port: number;
  /** Connections accepted and not yet bound (handshake or preface pending). */
  readonly unauthenticated: number;
  /**
   * Serves a renewed key pair to new connections. Deno's TLS listener cannot change its
   * certificate, so the listener is replaced on the same port (open connections stay).
   */
  setIdentity(pair: { certPem: string; keyPem: string }): Promise<void>;
  close(): Promise<void>;
}

/** Starts the data listener. */
export function startDataListener(opts: {
  listen: ListenAddress;
  certPem: string;
  keyPem: string;
  broker: Pick<TunnelBroker, "bindData">;
  log: Logger;
  authTimeoutMs?: number;
  maxUnauthenticatedPerSource?: number;
  /** Whether an address is a balancer in `--trusted-proxies` (then the trusted cap applies). */
  trustedSource?: (ip: string) => boolean;
  maxUnauthenticatedPerTrustedSource?: number;
}): Promise<DataListener> {
  const authTimeoutMs = opts.authTimeoutMs ?? AUTH_TIMEOUT_MS;
  const perSource = opts.maxUnauthenticatedPerSource ?? MAX_UNAUTHENTICATED_PER_SOURCE;
  const perTrusted = opts.maxUnauthenticatedPerTrustedSource ??
    MAX_UNAUTHENTICATED_PER_TRUSTED_SOURCE;
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
    // Bulk waits in the mux, where small frames can pass it, not in the kernel (notsent_lowat.ts).
    const lowat = setListenerNotSentLowat((l.addr as Deno.NetAddr).port);
    if (lowat) opts.log.warn({ reason: lowat }, "data connections keep the kernel's send queue");
    return l;
  };
  let listener = listen(opts, opts.listen.port);
  const port = (listener.addr as Deno.NetAddr).port;
  const pending = new Set<Deno.Conn>();
  const bySource = new Map<string, number>();

  // Ending an unbound connection: close it, then shut its socket down (batched: one scan of the
  // descriptors per 50 ms however many connections were refused meanwhile).
  let toShut: Deno.NetAddr[] = [];
  let shutTimer: ReturnType<typeof setTimeout> | undefined;
  const kill = (conn: Deno.TlsConn) => {
    try {
      conn.close();
    } catch { /* closed */ }
    toShut.push(conn.remoteAddr as Deno.NetAddr);
    shutTimer ??= setTimeout(() => {
      const batch = toShut;
      toShut = [];
      shutTimer = undefined;
      const r = shutdownSockets(port, batch);
      if (typeof r === "string") {
        opts.log.debug({ reason: r }, "could not shut down refused data connections");
      }
    }, 50);
  };

  const accept = async (conn: Deno.TlsConn) => {
    const remote = conn.remoteAddr as Deno.NetAddr;
    const source = remote.hostname;
    const count = bySource.get(source) ?? 0;
    if (count >= (opts.trustedSource?.(source) ? perTrusted : perSource)) {
      opts.log.debug({ remote: source }, "data connection refused: too many unauthenticated");
      kill(conn);
      return;
    }
    bySource.set(source, count + 1);
    pending.add(conn);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      kill(conn);
    }, authTimeoutMs);
    let bound = false;
    try {
      const header = await readExactly(conn, DATA_HEADER_SIZE);
      const ticket = header && decodeDataHeader(header);
      clearTimeout(timer);
      if (ticket && !timedOut) bound = opts.broker.bindData(ticket, conn);
      if (!bound) {
        opts.log.warn({ remote: source }, "data connection refused: bad or unknown ticket");
      }
    } catch (e) {
      opts.log.debug(
        { remote: source, err: (e as Error).message, timedOut },
        "data connection dropped before its preface",
      );
    } finally {
      clearTimeout(timer);
      pending.delete(conn);
      const left = (bySource.get(source) ?? 1) - 1;
      if (left > 0) bySource.set(source, left);
      else bySource.delete(source);
    }
    if (!bound && !timedOut) kill(conn);
  };

  const serve = (l: Deno.TlsListener) =>
    acceptLoop(
      l,
      (conn) =>
        accept(conn).catch((e) =>
          opts.log.warn({ err: (e as Error).message }, "data connection handling failed")
        ),
      (e) => opts.log.debug({ err: e.message }, "data channel accept failed"),
    );
  let loop = serve(listener);
  let closed = false;
  return Promise.resolve({
    port,
    get unauthenticated() {
      return pending.size;
    },
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
      for (const c of pending) kill(c as Deno.TlsConn);
      clearTimeout(shutTimer);
      shutdownSockets(port, toShut);
      await loop;
    },
  });
}
