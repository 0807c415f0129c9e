/**
 * Outbound HTTP proxies for clients that dial out (the agent behind a corporate firewall, the
 * tunnel CLI on a company network): which proxy applies to a host (`HTTPS_PROXY` /
 * `https_proxy`, or `HTTP_PROXY` / `http_proxy` for a plain-HTTP cloud, minus `NO_PROXY` /
 * `no_proxy`; the agent reads them only when the operator opts in, the CLI as `fetch` does), and
 * an HTTP CONNECT tunnel through it with Basic auth from the proxy URL's userinfo. The tunnel is a
 * plain TCP connection the caller then runs TLS over, so the proxy sees only the host name and
 * port, never the traffic.
 * @module
 */
import { BlockList, isIP } from "node:net";

/** A proxy to reach a host through. */
export interface ProxyConfig {
  /** The proxy URL without credentials, for logs. */
  display: string;
  host: string;
  port: number;
  /** Basic credentials from the URL's userinfo, decoded. */
  auth?: { username: string; password: string };
}

/** Why a proxy could not be used. */
export class ProxyError extends Error {
  /** Creates a proxy error. */
  constructor(message: string) {
    super(message);
    this.name = "ProxyError";
  }
}

/** Parses a proxy URL (`http://user:pass@host:port`; a bare `host:port` means http). */
export function parseProxyUrl(text: string): ProxyConfig {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new ProxyError(`proxy: expected a URL like http://proxy.example.com:3128, got "${text}"`);
  }
  if (url.protocol !== "http:") {
    throw new ProxyError(
      `proxy: only http:// proxies (HTTP CONNECT) are supported, got ${url.protocol}`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port ? Number(url.port) : 80;
  const auth = url.username
    ? {
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    }
    : undefined;
  return { display: `http://${url.host}`, host, port, ...(auth ? { auth } : {}) };
}

/**
 * True when `host` matches a NO_PROXY list: `*`, exact names, `.suffix`/`suffix`, IP addresses
 * and CIDRs (`127.0.0.0/8`); a port on an entry does not narrow it.
 */
export function bypassesProxy(host: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const h = host.replace(/^\[|\]$/g, "").replace(/\.$/, "").toLowerCase();
  for (const raw of noProxy.split(/[,\s]+/)) {
    let entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    if (cidr) {
      if (isIP(cidr[1]) && isIP(h) && inSubnet(h, cidr[1], Number(cidr[2]))) return true;
      continue;
    }
    entry = entry.replace(/^\[([^\]]+)\](?::\d+)?$/, "$1");
    if (!isIP(entry)) entry = entry.replace(/:\d+$/, "");
    const suffix = entry.replace(/^\*?\./, "");
    if (h === suffix || (!isIP(h) && h.endsWith(`.${suffix}`))) return true;
  }
  return false;
}

/** Whether the address `ip` is in `net/bits` (false for a malformed subnet). */
function inSubnet(ip: string, net: string, bits: number): boolean {
  const list = new BlockList();
  try {
    list.addSubnet(net, bits, isIP(net) === 6 ? "ipv6" : "ipv4");
    return list.check(ip, isIP(ip) === 6 ? "ipv6" : "ipv4");
  } catch {
    return false;
  }
}

/**
 * The proxy for a connection to `host` from the environment, or null: `HTTPS_PROXY` (or
 * `https_proxy`) for an HTTPS-like one, `HTTP_PROXY` (or `http_proxy`) when `plain` (a cloud on
 * http://, as `fetch` chooses), unless `NO_PROXY` (or `no_proxy`) lists the host.
 */
export function proxyFromEnv(
  host: string,
  env: Record<string, string | undefined>,
  plain = false,
): ProxyConfig | null {
  const url = plain ? env.HTTP_PROXY || env.http_proxy : env.HTTPS_PROXY || env.https_proxy;
  if (!url) return null;
  if (bypassesProxy(host, env.NO_PROXY ?? env.no_proxy)) return null;
  return parseProxyUrl(url);
}

/** The value of a Proxy-Authorization header for Basic credentials. */
export function basicAuthHeader(auth: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${auth.username}:${auth.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** Largest proxy response head accepted. */
const MAX_HEAD = 16 << 10;

/**
 * Opens a TCP connection to `host:port` through the proxy with HTTP CONNECT. Resolves with the
 * connection positioned right after the proxy's 200 response (nothing of the tunnel consumed).
 */
export async function connectViaProxy(
  proxy: ProxyConfig,
  host: string,
  port: number,
  signal?: AbortSignal,
): Promise<Deno.TcpConn> {
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({ hostname: proxy.host, port: proxy.port, signal });
  } catch (e) {
    throw new ProxyError(`cannot reach the proxy ${proxy.display}: ${(e as Error).message}`);
  }
  const abort = () => conn.close();
  signal?.addEventListener("abort", abort, { once: true });
  try {
    const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    const head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n` +
      (proxy.auth ? `Proxy-Authorization: ${basicAuthHeader(proxy.auth)}\r\n` : "") + "\r\n";
    const req = new TextEncoder().encode(head);
    for (let off = 0; off < req.length;) off += await conn.write(req.subarray(off));
    // Read byte by byte up to the blank line: a TLS server speaks only after our ClientHello,
    // so nothing of the tunnel can follow the head, and none of it may be consumed here.
    const buf = new Uint8Array(MAX_HEAD);
    let n = 0;
    const one = new Uint8Array(1);
    while (true) {
      const r = await conn.read(one);
      if (r === null) throw new ProxyError(`the proxy ${proxy.display} closed the connection`);
      buf[n++] = one[0];
      if (
        n >= 4 && buf[n - 4] === 13 && buf[n - 3] === 10 && buf[n - 2] === 13 && buf[n - 1] === 10
      ) {
        break;
      }
      if (n >= MAX_HEAD) {
        throw new ProxyError(`the proxy ${proxy.display} sent an oversized answer`);
      }
    }
    const status = new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0];
    const code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(status)?.[1] ?? 0);
    if (code !== 200) {
      throw new ProxyError(
        code === 407
          ? `the proxy ${proxy.display} wants credentials (407); ` +
            (proxy.auth
              ? "it refused those in the proxy URL"
              : "put them in the proxy URL, http://user:password@host:port")
          : `the proxy ${proxy.display} refused CONNECT ${authority}: ${status.slice(0, 100)}`,
      );
    }
    return conn;
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed by abort */ }
    if (signal?.aborted) throw new ProxyError("proxy connect aborted");
    throw e;
  } finally {
    signal?.removeEventListener("abort", abort);
  }
}
