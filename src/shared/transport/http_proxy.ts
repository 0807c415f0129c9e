/**
 * Dialing the cloud through an HTTP proxy (`CONNECT host:port`), where a company network lets
 * nothing out except through one. The runtime's `fetch` already follows `HTTPS_PROXY`,
 * `HTTP_PROXY` and `NO_PROXY`, so the CLI's requests (its plan, `status`) went through the proxy
 * while its tunnels, dialed with `Deno.connect`, went straight out and failed: `status` worked and
 * every tunnel did not. This module reads the same variables the same way (no exception for
 * loopback, as `fetch` makes none) and opens the tunnels' connections through the same proxy,
 * with the credentials its URL carries (`http://user:password@proxy:3128`).
 * @module
 */
import { BlockList, isIP } from "node:net";

/** A proxy that refused or could not be reached; the message says which and what to do. */
export class ProxyError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ProxyError";
  }
}

let envAtStart: Record<string, string> | undefined;

/** The process's environment, read once (a dial per tunnel open need not read it again). */
function processEnv(): Record<string, string> {
  return envAtStart ??= Deno.env.toObject();
}

/** The first set variable of `names` (the upper-case name first, as `fetch` reads them). */
function envOf(env: Record<string, string | undefined>, names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v.trim() !== "") return v.trim();
  }
  return undefined;
}

/** Whether `NO_PROXY`'s list (`*`, host names and domains, IP addresses and CIDRs) covers `host`. */
export function bypassed(host: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const h = host.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  for (let entry of noProxy.split(",").map((e) => e.trim().toLowerCase()).filter(Boolean)) {
    if (entry === "*") return true;
    const cidr = /^([^/]+)\/(\d{1,3})$/.exec(entry);
    if (cidr && isIP(cidr[1]) && isIP(h)) {
      const list = new BlockList();
      const type = isIP(cidr[1]) === 6 ? "ipv6" : "ipv4";
      try {
        list.addSubnet(cidr[1], Number(cidr[2]), type);
      } catch {
        continue;
      }
      if (list.check(h, isIP(h) === 6 ? "ipv6" : "ipv4")) return true;
      continue;
    }
    // A port on the entry ("host:8080", "[::1]:443") does not narrow it.
    entry = entry.replace(/^\[([^\]]+)\](?::\d+)?$/, "$1");
    if (!isIP(entry)) entry = entry.replace(/:\d+$/, "");
    entry = entry.replace(/^\*?\./, "");
    if (h === entry || (!isIP(h) && h.endsWith(`.${entry}`))) return true;
  }
  return false;
}

/**
 * The proxy to reach `url` (ws:, wss:, http: or https:) through, from the environment:
 * `HTTPS_PROXY` for the secure schemes, `HTTP_PROXY` for the others (either spelling), unless
 * `NO_PROXY` covers the host; null for none. A value that is not an http:// URL is refused with
 * the variable named.
 */
export function proxyFor(
  url: URL,
  env: Record<string, string | undefined> = processEnv(),
): URL | null {
  const secure = url.protocol === "wss:" || url.protocol === "https:";
  const names = secure ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"];
  const raw = envOf(env, names);
  if (!raw) return null;
  if (bypassed(url.hostname, envOf(env, ["NO_PROXY", "no_proxy"]))) return null;
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new ProxyError(`${names[0]}: expected a proxy URL like http://proxy:3128, got "${raw}"`);
  }
  if (proxy.protocol !== "http:") {
    throw new ProxyError(
      `${names[0]}: only http:// proxies are supported (CONNECT), got ${proxy.protocol}//`,
    );
  }
  return proxy;
}

/** The proxy's address as people write it, without its credentials. */
export function proxyShown(proxy: URL): string {
  return `http://${proxy.host}`;
}

/** Longest CONNECT answer head read. */
const MAX_HEAD = 16 << 10;

/**
 * A TCP connection to `hostname:port` through the HTTP `proxy` (its CONNECT tunnel), Nagle off.
 * Throws {@linkcode ProxyError} when the proxy cannot be reached or refuses.
 */
export async function connectVia(
  proxy: URL,
  hostname: string,
  port: number,
): Promise<Deno.TcpConn> {
  const where = proxyShown(proxy);
  let conn: Deno.TcpConn;
  try {
    conn = await Deno.connect({
      hostname: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: Number(proxy.port || 80),
    });
  } catch (e) {
    throw new ProxyError(`cannot reach the proxy at ${where}: ${(e as Error).message}`);
  }
  conn.setNoDelay(true);
  try {
    const authority = `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    let head = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n`;
    if (proxy.username) {
      const user = decodeURIComponent(proxy.username);
      const pass = decodeURIComponent(proxy.password);
      const basic = btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));
      head += `Proxy-Authorization: Basic ${basic}\r\n`;
    }
    const bytes = new TextEncoder().encode(`${head}\r\n`);
    for (let off = 0; off < bytes.byteLength;) off += await conn.write(bytes.subarray(off));
    // The answer's head, read to its blank line and not a byte further: what follows is the
    // cloud's (nothing, until the client speaks: TLS and WebSocket clients speak first).
    const buf = new Uint8Array(MAX_HEAD);
    let end = 0;
    const one = new Uint8Array(1);
    while (true) {
      if (
        end >= 4 && buf[end - 4] === 13 && buf[end - 3] === 10 && buf[end - 2] === 13 &&
        buf[end - 1] === 10
      ) break;
      if (end >= MAX_HEAD) throw new ProxyError(`the proxy at ${where} sent an oversized answer`);
      const n = await conn.read(one);
      if (n === null) {
        throw new ProxyError(`the proxy at ${where} closed the connection before answering`);
      }
      buf[end++] = one[0];
    }
    const line = new TextDecoder().decode(buf.subarray(0, end)).split("\r\n")[0];
    const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(line);
    if (!status) throw new ProxyError(`the proxy at ${where} answered "${line.slice(0, 80)}"`);
    const code = Number(status[1]);
    if (code === 407) {
      throw new ProxyError(
        `the proxy at ${where} asks for credentials (407)` +
          (proxy.username
            ? ": it refused those in the proxy URL"
            : ": put them in the proxy URL, http://user:password@host:port"),
      );
    }
    if (code < 200 || code > 299) {
      throw new ProxyError(
        `the proxy at ${where} refused to connect to ${authority}: ${code} ${status[2] ?? ""}`
          .trim(),
      );
    }
    return conn;
  } catch (e) {
    try {
      conn.close();
    } catch { /* closed */ }
    if (e instanceof ProxyError) throw e;
    throw new ProxyError(`the proxy at ${where} failed: ${(e as Error).message}`);
  }
}
