/**
 * The client side of a WebSocket handshake on a Deno connection (TCP, or TLS for `wss:`), for
 * the tunnel CLI: the frames then go through `ws_native.ts`, so the CLI's bytes never pass
 * through `ws` and Deno's Node-compatibility sockets either. A refusal (any status but 101)
 * comes back as the status and the server's `{message}`.
 * @module
 */
import { notTheCloud } from "../reach_error.ts";
import { acceptKey, NativeWebSocket } from "./ws_native.ts";
import { EARLY_DATA_HEADER, encodeEarlyData } from "./early_data.ts";
import { connectViaProxy, type ProxyConfig, proxyFromEnv } from "./proxy.ts";

/** The outcome of a handshake. */
export type WsConnectResult =
  | {
    ok: true;
    ws: NativeWebSocket;
    /** How many early bytes sent with the request the server confirmed (`early_data.ts`). */
    earlyTaken: number;
  }
  | {
    ok: false;
    status: number;
    message: string;
    /** What was thrown when the connection could not be made (status 0). */
    error?: unknown;
  };

/** Early bytes for a request: the client's first bytes once the connection is ready. */
export type EarlyBytes = () => Promise<Uint8Array | null>;

const MAX_HEAD = 16 << 10;

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

async function writeAll(conn: Deno.Conn, p: Uint8Array): Promise<void> {
  let off = 0;
  while (off < p.byteLength) off += await conn.write(p.subarray(off));
}

/** Reads the rest of a refusal's body (by Content-Length, or to the end) and its message. */
async function refusalMessage(
  conn: Deno.Conn,
  status: number,
  fields: Map<string, string>,
  body: Uint8Array,
): Promise<string> {
  const want = Number(fields.get("content-length") ?? "65536");
  const parts = [body];
  let have = body.byteLength;
  const buf = new Uint8Array(16 << 10);
  while (have < Math.min(want, 65536)) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    parts.push(buf.slice(0, n));
    have += n;
  }
  const text = new TextDecoder().decode(
    parts.length === 1 ? body : new Uint8Array(parts.flatMap((p) => [...p])),
  );
  try {
    const message = JSON.parse(text).message;
    if (typeof message === "string") return message; // the cloud's own words
  } catch { /* not the cloud's answer */ }
  return notTheCloud(status, fields.get("server"), text, { websocket: true });
}

/** A connection to the server, and whether it was dialed ahead (`spare.ts` of the CLI). */
export interface OpenedConn {
  conn: Deno.Conn;
  /** Dialed before this request: the server (or a proxy between) may have closed it since. */
  reused: boolean;
}

let envAtStart: Record<string, string> | undefined;

/**
 * The proxy the environment names for a WebSocket to `url`, read as the runtime's `fetch` reads
 * it — `HTTPS_PROXY` for wss:, `HTTP_PROXY` for ws:, else `ALL_PROXY`, minus `NO_PROXY`, with no
 * exception for loopback; an HTTP or a SOCKS5 proxy — so a client's requests and its WebSockets
 * take the same way out (the environment is read once). Throws `ProxyError` for a value that is
 * neither.
 */
export function wsProxy(
  url: URL,
  env: Record<string, string | undefined> = envAtStart ??= Deno.env.toObject(),
): ProxyConfig | null {
  return proxyFromEnv(url.hostname, env, url.protocol === "ws:", { socks: true, all: true });
}

/**
 * Dials `url`'s host: TCP with Nagle off — through the HTTP proxy the environment names for it,
 * as `fetch` would ({@linkcode wsProxy}) — and TLS on it for `wss:`, trusting the runtime's
 * authorities and those `caCerts` gives (asked only for `wss:`).
 */
export async function dialFor(
  url: URL,
  caCerts: () => string[] = () => [],
): Promise<Deno.Conn> {
  const tls = url.protocol === "wss:";
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || (tls ? 443 : 80));
  const proxy = wsProxy(url);
  const tcp = proxy
    ? await connectViaProxy(proxy, hostname, port)
    : await Deno.connect({ hostname, port });
  tcp.setNoDelay(true);
  if (!tls) return tcp;
  try {
    const extra = caCerts();
    return await Deno.startTls(tcp, extra.length ? { hostname, caCerts: extra } : { hostname });
  } catch (e) {
    try {
      tcp.close();
    } catch { /* closed */ }
    throw e;
  }
}

/**
 * Opens a WebSocket to `url` (ws: or wss:) with extra request `headers`. `zeroMask`: frames
 * carry an all-zero masking key (see `src/tunnel/connect.ts` for when that is safe). `open`
 * gives the connection (default: a fresh dial). When it was dialed ahead and ends before any
 * byte of a response (closed while it waited), the request is sent once more on a fresh dial,
 * as browsers do for an idle kept-alive connection: the server never saw it (`redial` gives the
 * fresh connection; default: a dial with the runtime's trust). `early`, asked once
 * the connection is ready, gives bytes to carry in the request (`early_data.ts`); the result
 * says whether the server took them.
 */
export async function connectWebSocket(
  url: URL,
  headers: Record<string, string>,
  zeroMask: boolean,
  open: () => Promise<OpenedConn> = async () => ({ conn: await dialFor(url), reused: false }),
  early?: EarlyBytes,
  redial: () => Promise<Deno.Conn> = () => dialFor(url),
): Promise<WsConnectResult> {
  let opened: OpenedConn;
  try {
    opened = await open();
  } catch (e) {
    return { ok: false, status: 0, message: (e as Error).message, error: e };
  }
  const bytes = early ? await early() : null;
  if (bytes) headers = { ...headers, [EARLY_DATA_HEADER]: encodeEarlyData(bytes) };
  const sent = bytes?.byteLength ?? 0;
  let r = await handshake(opened.conn, url, headers, zeroMask, sent);
  if ("unanswered" in r && opened.reused) {
    try {
      r = await handshake(await redial(), url, headers, zeroMask, sent);
    } catch (e) {
      return { ok: false, status: 0, message: (e as Error).message, error: e };
    }
  }
  // The caller sees the outcome only, not whether it was answered.
  return r.ok ? r : { ok: false, status: r.status, message: r.message };
}

/** A handshake's outcome; `unanswered`: the connection failed before any byte of a response. */
type Attempt = WsConnectResult | { ok: false; status: 0; message: string; unanswered: true };

/** Sends the upgrade request on `conn` and reads the answer; `early`: bytes in its header. */
async function handshake(
  conn: Deno.Conn,
  url: URL,
  headers: Record<string, string>,
  zeroMask: boolean,
  early: number,
): Promise<Attempt> {
  const key = b64(crypto.getRandomValues(new Uint8Array(16)));
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
    `Sec-WebSocket-Key: ${key}\r\n${extra}\r\n`;
  const close = () => {
    try {
      conn.close();
    } catch { /* closed */ }
  };
  let end = 0;
  const fail = (status: number, message: string): Attempt => {
    close();
    return end > 0 || status !== 0
      ? { ok: false, status, message }
      : { ok: false, status: 0, message, unanswered: true };
  };
  try {
    await writeAll(conn, new TextEncoder().encode(request));
    const buf = new Uint8Array(MAX_HEAD);
    let headEnd = -1;
    while (headEnd < 0) {
      if (end === buf.byteLength) return fail(0, "response head too large");
      const n = await conn.read(buf.subarray(end));
      if (n === null) return fail(0, "connection closed during the WebSocket handshake");
      end += n;
      headEnd = new TextDecoder().decode(buf.subarray(0, end)).indexOf("\r\n\r\n");
    }
    const lines = new TextDecoder().decode(buf.subarray(0, headEnd)).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const fields = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      if (i > 0) fields.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
    }
    const rest = buf.slice(headEnd + 4, end);
    if (status !== 101) {
      const message = await refusalMessage(conn, status, fields, rest);
      return fail(status, message);
    }
    if (fields.get("sec-websocket-accept") !== acceptKey(key)) {
      return fail(0, "invalid Sec-WebSocket-Accept from the server");
    }
    const ws = new NativeWebSocket(conn, { role: "client", head: rest, zeroMask });
    ws.protocol = fields.get("sec-websocket-protocol") ?? "";
    const taken = early > 0 && fields.get(EARLY_DATA_HEADER) === `${early}` ? early : 0;
    return { ok: true, ws, earlyTaken: taken };
  } catch (e) {
    return fail(0, (e as Error).message);
  }
}
