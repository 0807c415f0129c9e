/**
 * How this agent reaches the cloud for one session: directly to the address that won a Happy
 * Eyeballs race (RFC 8305 — every A/AAAA of the control host raced IPv6 first, 250 ms apart,
 * the first completed TLS handshake wins), or through an HTTP CONNECT proxy when the operator
 * enabled one. The control channel and every data connection of the session use the same
 * route; certificates are always checked against the endpoint's host name, not the address.
 * @module
 */
import { splitPemCerts } from "../shared/crypto/pki.ts";
import {
  interleave,
  race,
  resolveAll,
  type ResolvedAddress,
  type Resolver,
} from "../shared/transport/happy_eyeballs.ts";
import { connectViaProxy, type ProxyConfig } from "../shared/transport/proxy.ts";

/** The route of one session. */
export interface CloudRoute {
  /** The control endpoint's host (name or IP): the cloud's certificates must name it. */
  host: string;
  /** The address dialed (the race winner), or null when going through the proxy. */
  address: ResolvedAddress | null;
  /** The proxy, when one is used. */
  proxy: ProxyConfig | null;
}

/** Opens a TCP connection to `port` of the cloud along the route. */
export async function dialCloudTcp(
  route: CloudRoute,
  port: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  const conn = route.proxy
    ? await connectViaProxy(route.proxy, route.host, port, signal)
    : await Deno.connect({ hostname: route.address!.address, port, signal });
  conn.setNoDelay(true);
  return conn;
}

/**
 * Opens a TLS connection to `port` of the cloud along the route; the server must chain to
 * `caPem` (Deno also accepts publicly trusted roots) and name the endpoint's host.
 */
export async function dialCloudTls(
  route: CloudRoute,
  port: number,
  caPem: string,
  signal?: AbortSignal,
): Promise<Deno.TlsConn> {
  const tcp = await dialCloudTcp(route, port, signal);
  const abort = () => {
    try {
      tcp.close();
    } catch { /* already closed */ }
  };
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const conn = await Deno.startTls(tcp, { hostname: route.host, caCerts: splitPemCerts(caPem) });
    try {
      await conn.handshake();
    } catch (e) {
      conn.close();
      throw e;
    }
    return conn;
  } catch (e) {
    abort();
    throw signal?.aborted ? new Error("aborted: another address won") : e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}

/**
 * Picks the route of a session: the proxy when given; otherwise races every address of the
 * host (those in `demoted` last) and keeps the first one whose TLS handshake completes.
 */
export async function chooseRoute(o: {
  host: string;
  port: number;
  caPem: string;
  proxy: ProxyConfig | null;
  resolver?: Resolver;
  demoted?: ReadonlySet<string>;
  staggerMs?: number;
}): Promise<CloudRoute> {
  if (o.proxy) return { host: o.host, address: null, proxy: o.proxy };
  const addrs = interleave(await resolveAll(o.host, o.resolver), o.demoted);
  const probe = (address: ResolvedAddress, signal: AbortSignal) =>
    dialCloudTls({ host: o.host, address, proxy: null }, o.port, o.caPem, signal);
  const close = (c: Deno.TlsConn) => {
    try {
      c.close();
    } catch { /* gone */ }
  };
  const win = await race(addrs, probe, { staggerMs: o.staggerMs, discard: close });
  close(win.value);
  return { host: o.host, address: win.address, proxy: null };
}
