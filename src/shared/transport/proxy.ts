/**
 * Outbound proxies for clients that dial out (the agent behind a corporate firewall, the tunnel
 * CLI on a company network): which proxy applies to a host (`HTTPS_PROXY` / `https_proxy`, or
 * `HTTP_PROXY` / `http_proxy` for a plain-HTTP cloud, minus `NO_PROXY` / `no_proxy`; the agent
 * reads them only when the operator opts in, the CLI as `fetch` does, `ALL_PROXY` too), and a
 * tunnel through it: HTTP CONNECT with Basic auth from the proxy URL's userinfo, or — for the
 * CLI, as `fetch` also takes one — SOCKS5 (RFC 1928, user/password per RFC 1929: what
 * `ssh -D` gives an operator whose only way out is an SSH jump host). The tunnel is a plain TCP
 * connection the caller then runs TLS over, so the proxy sees only the host name and port, never
 * the traffic.
 * @module
 */
import { BlockList, isIP } from "node:net";
import { readExactly } from "./read_exactly.ts";

/** A proxy to reach a host through. */
export interface ProxyConfig {
  /** The proxy URL without credentials, for logs. */
  display: string;
  host: string;
  port: number;
  /** Basic credentials from the URL's userinfo, decoded. */
  auth?: { username: string; password: string };
  /** A SOCKS5 proxy (`socks5://`, `socks5h://`); absent: HTTP CONNECT. */
  socks?: true;
}

/** Which kinds of proxy a caller can go through. */
export interface ProxyKinds {
  /** SOCKS5 too (the CLI; the agent's control channel, grpc-js's, speaks only HTTP CONNECT). */
  socks?: boolean;
  /** `ALL_PROXY` / `all_proxy` when the scheme's own variable is unset, as `fetch` reads it. */
  all?: boolean;
}

/** Why a proxy could not be used. */
export class ProxyError extends Error {
  /** Creates a proxy error. */
  constructor(message: string) {
    super(message);
    this.name = "ProxyError";
  }
}

/**
 * Parses a proxy URL (`http://user:pass@host:port`; a bare `host:port` means http); with
 * `kinds.socks`, `socks5://` and `socks5h://` too (the name is always sent to the proxy to
 * resolve, as `fetch` does for both).
 */
export function parseProxyUrl(text: string, kinds: ProxyKinds = {}): ProxyConfig {
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    // The value as given, but never a password in it.
    const shown = text.replace(/^([^@]*:\/\/)?[^@/]*@/, "$1***@");
    throw new ProxyError(
      `proxy: expected a URL like http://proxy.example.com:3128, got "${shown}"`,
    );
  }
  const socks = url.protocol === "socks5:" || url.protocol === "socks5h:";
  if (url.protocol !== "http:" && !(socks && kinds.socks)) {
    throw new ProxyError(
      kinds.socks
        ? `proxy: only http:// (HTTP CONNECT) and socks5:// proxies are supported, got ${url.protocol}`
        : `proxy: only http:// proxies (HTTP CONNECT) are supported, got ${url.protocol}`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const port = url.port ? Number(url.port) : socks ? 1080 : 80;
  const auth = url.username
    ? {
      username: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
    }
    : undefined;
  return {
    display: `${socks ? "socks5" : "http"}://${url.host}${url.port ? "" : socks ? ":1080" : ""}`,
    host,
    port,
    ...(auth ? { auth } : {}),
    ...(socks ? { socks: true as const } : {}),
  };
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
 * http://, as `fetch` chooses), else with `kinds.all` `ALL_PROXY` (or `all_proxy`), unless
 * `NO_PROXY` (or `no_proxy`) lists the host.
 */
export function proxyFromEnv(
  host: string,
  env: Record<string, string | undefined>,
  plain = false,
  kinds: ProxyKinds = {},
): ProxyConfig | null {
  const url = (plain ? env.HTTP_PROXY || env.http_proxy : env.HTTPS_PROXY || env.https_proxy) ||
    (kinds.all ? env.ALL_PROXY || env.all_proxy : undefined);
  if (!url) return null;
  if (bypassesProxy(host, env.NO_PROXY ?? env.no_proxy)) return null;
  return parseProxyUrl(url, kinds);
}

/** The value of a Proxy-Authorization header for Basic credentials. */
export function basicAuthHeader(auth: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${auth.username}:${auth.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** The `host:port` of a CONNECT request line (an IPv6 address in brackets). */
export function connectAuthority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Why a proxy answered CONNECT with `code` (not 200), in words: a 407 says where credentials
 * go (or that those given were refused); anything else quotes the proxy's status line.
 */
export function connectRefusal(
  proxy: ProxyConfig,
  authority: string,
  code: number,
  status: string,
): ProxyError {
  return new ProxyError(
    code === 407
      ? `the proxy ${proxy.display} wants credentials (407); ` +
        (proxy.auth
          ? "it refused those in the proxy URL"
          : "put them in the proxy URL, http://user:password@host:port")
      : `the proxy ${proxy.display} refused CONNECT ${authority}: ${status.slice(0, 100)}`,
  );
}

/** Largest proxy response head accepted. */
const MAX_HEAD = 16 << 10;

/**
 * Opens a TCP connection to `host:port` through the proxy with HTTP CONNECT (or SOCKS5's
 * CONNECT). Resolves with the connection positioned right after the proxy's answer (nothing of
 * the tunnel consumed).
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
    if (proxy.socks) return await socks5Connect(conn, proxy, host, port);
    const authority = connectAuthority(host, port);
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
    if (code !== 200) throw connectRefusal(proxy, authority, code, status);
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

/** Reads exactly `n` bytes of the proxy's answer, never more. */
async function answer(conn: Deno.Conn, n: number, proxy: ProxyConfig): Promise<Uint8Array> {
  const got = await readExactly(conn, n);
  if (!got) throw new ProxyError(`the proxy ${proxy.display} closed the connection`);
  return got;
}

/** RFC 1928's reply codes, as a person reads them. */
const SOCKS_REPLIES: Record<number, string> = {
  1: "general failure",
  2: "not allowed by its rules",
  3: "network unreachable",
  4: "host unreachable",
  5: "connection refused",
  6: "TTL expired",
  7: "command not supported",
  8: "address type not supported",
};

/** The 16 bytes of an IPv6 address in text (`isIP` already said it is one). */
function ipv6Bytes(text: string): number[] {
  const [head, tail = ""] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (part: string) => part ? part.split(":") : [];
  const expand = (g: string[]) =>
    g.flatMap((x) => {
      if (x.includes(".")) return x.split(".").map(Number); // an embedded IPv4 tail
      const v = parseInt(x, 16);
      return [v >> 8, v & 255];
    });
  const left = expand(groups(head));
  const right = expand(groups(tail));
  return [...left, ...new Array(16 - left.length - right.length).fill(0), ...right];
}

/**
 * SOCKS5 on `conn` (RFC 1928): no authentication, or user/password (RFC 1929) when the proxy URL
 * carries them, then CONNECT to `host:port` — a name as a name (the proxy resolves it), an
 * address as an address. Resolves with `conn` right after the reply.
 */
async function socks5Connect(
  conn: Deno.TcpConn,
  proxy: ProxyConfig,
  host: string,
  port: number,
): Promise<Deno.TcpConn> {
  const send = async (bytes: number[]) => {
    const b = new Uint8Array(bytes);
    for (let off = 0; off < b.length;) off += await conn.write(b.subarray(off));
  };
  const name = new TextEncoder().encode(host);
  if (!isIP(host) && (name.length === 0 || name.length > 255)) {
    throw new ProxyError(`the host name ${host} is too long for a SOCKS5 proxy`);
  }
  await send(proxy.auth ? [5, 2, 0, 2] : [5, 1, 0]);
  const [version, method] = await answer(conn, 2, proxy);
  if (version !== 5) {
    throw new ProxyError(`the proxy ${proxy.display} does not speak SOCKS5`);
  }
  if (method === 0xff || (method === 2 && !proxy.auth) || (method !== 0 && method !== 2)) {
    throw new ProxyError(
      `the SOCKS proxy ${proxy.display} accepts none of the ways this client can log in; ` +
        (proxy.auth
          ? "it refused user/password"
          : "if it wants credentials, put them in its URL, socks5://user:password@host:port"),
    );
  }
  if (method === 2) {
    const user = new TextEncoder().encode(proxy.auth!.username);
    const pass = new TextEncoder().encode(proxy.auth!.password);
    if (user.length > 255 || pass.length > 255) {
      throw new ProxyError("SOCKS5 credentials are at most 255 bytes each");
    }
    await send([1, user.length, ...user, pass.length, ...pass]);
    const [, status] = await answer(conn, 2, proxy);
    if (status !== 0) {
      throw new ProxyError(`the SOCKS proxy ${proxy.display} refused the credentials in its URL`);
    }
  }
  const family = isIP(host);
  const address = family === 4
    ? [1, ...host.split(".").map(Number)]
    : family === 6
    ? [4, ...ipv6Bytes(host)]
    : [3, name.length, ...name];
  await send([5, 1, 0, ...address, port >> 8, port & 255]);
  const [v, reply, , type] = await answer(conn, 4, proxy);
  if (v !== 5) throw new ProxyError(`the proxy ${proxy.display} does not speak SOCKS5`);
  if (reply !== 0) {
    // The rest of a refusal is not read: some proxies close right after its first bytes.
    const authority = family === 6 ? `[${host}]:${port}` : `${host}:${port}`;
    throw new ProxyError(
      `the SOCKS proxy ${proxy.display} could not connect to ${authority}: ` +
        (SOCKS_REPLIES[reply] ?? `error ${reply}`),
    );
  }
  const bound = type === 1
    ? 4
    : type === 4
    ? 16
    : type === 3
    ? (await answer(conn, 1, proxy))[0]
    : -1;
  if (bound < 0) throw new ProxyError(`the proxy ${proxy.display} sent a malformed SOCKS5 reply`);
  await answer(conn, bound + 2, proxy);
  return conn;
}
