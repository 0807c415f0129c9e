/**
 * How this agent reaches the cloud for one session: directly to the address that won a Happy
 * Eyeballs race (RFC 8305 — every A/AAAA of the control host raced IPv6 first, 250 ms apart,
 * the first completed TLS handshake wins), or through an HTTP CONNECT proxy when the operator
 * enabled one. The control channel and every data connection of the session use the same
 * route; certificates are always checked against the endpoint's host name, not the address.
 * @module
 */
import { splitPemCerts } from "../shared/crypto/cert_reader.ts";
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
  /** The control port of the endpoint that won. */
  port: number;
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
 * `caPem` (Deno also accepts its publicly trusted roots) and name `serverName`, or else the
 * endpoint's host.
 */
export async function dialCloudTls(
  route: CloudRoute,
  port: number,
  caPem: string,
  signal?: AbortSignal,
  serverName?: string,
): Promise<Deno.TlsConn> {
  const tcp = await dialCloudTcp(route, port, signal);
  const abort = () => {
    try {
      tcp.close();
    } catch { /* already closed */ }
  };
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const conn = await Deno.startTls(tcp, {
      hostname: serverName ?? route.host,
      caCerts: splitPemCerts(caPem),
    });
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

/** One control endpoint (one cloud node, or a name whose addresses are several nodes). */
export interface Endpoint {
  host: string;
  port: number;
}

/** A raced candidate: one address of one endpoint. */
interface Candidate extends ResolvedAddress {
  host: string;
  port: number;
}

/** The key an address is demoted by (one node on one port). */
export function routeKey(r: { address: string; port: number }): string {
  return `${r.address}#${r.port}`;
}

/**
 * Picks the route of a session: the proxy when given (first endpoint); otherwise races every
 * address of every endpoint (guide §5.2: several A records or a list of nodes) — endpoints
 * taken in turn, IPv6/IPv4 interleaved within each, candidates in `demoted` (see routeKey) last —
 * and keeps the first one whose TLS handshake completes. An endpoint whose name does not
 * resolve is skipped while another one answers.
 */
export async function chooseRoute(o: {
  endpoints: Endpoint[];
  caPem: string;
  proxy: ProxyConfig | null;
  resolver?: Resolver;
  demoted?: ReadonlySet<string>;
  staggerMs?: number;
}): Promise<CloudRoute> {
  const first = o.endpoints[0];
  if (o.proxy) return { host: first.host, port: first.port, address: null, proxy: o.proxy };
  const lists = await Promise.all(o.endpoints.map(async (ep) => {
    try {
      return interleave(await resolveAll(ep.host, o.resolver))
        .map((a): Candidate => ({ ...a, host: ep.host, port: ep.port }));
    } catch {
      return [] as Candidate[];
    }
  }));
  const all: Candidate[] = [];
  for (let i = 0; i < Math.max(...lists.map((l) => l.length)); i++) {
    for (const l of lists) if (l[i]) all.push(l[i]);
  }
  const demoted = o.demoted ?? new Set<string>();
  const ordered = [
    ...all.filter((c) => !demoted.has(routeKey(c))),
    ...all.filter((c) => demoted.has(routeKey(c))),
  ];
  const probe = (c: ResolvedAddress, signal: AbortSignal) => {
    const cand = c as Candidate;
    const address = { address: cand.address, family: cand.family };
    return dialCloudTls(
      { host: cand.host, port: cand.port, address, proxy: null },
      cand.port,
      o.caPem,
      signal,
    );
  };
  const close = (c: Deno.TlsConn) => {
    try {
      c.close();
    } catch { /* gone */ }
  };
  if (!ordered.length) throw new Error("no address found for any control endpoint");
  const win = await race(ordered, probe, { staggerMs: o.staggerMs, discard: close });
  close(win.value);
  const w = win.address as Candidate;
  return {
    host: w.host,
    port: w.port,
    address: { address: w.address, family: w.family },
    proxy: null,
  };
}
