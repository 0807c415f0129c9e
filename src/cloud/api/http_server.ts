/**
 * The HTTP listener. The port is accepted by the native front (`native_front.ts`): WebSocket
 * upgrades to the tunnel endpoints (`/api/tunnel/{h}`, the CLI's raw tunnel) are served there,
 * framed on the Deno connection (`ws_native.ts`: reads only when asked, so a stalled device
 * stalls the operator's sender), through the same policy functions as every other path
 * (`prepareTunnel`, `serveTunnel`); so are browser proxy requests without a body (`/c/{h}/…`
 * or a device origin's, answered by `serveProxy` / `serveOrigin` through `native_http1.ts`, the
 * connection kept alive for the next). A browser's request node:http answers ends its
 * connection, so the browser's next one comes through the front again.
 * Every other connection goes to node's http server with its real peer address: the hono app
 * for ordinary requests, the browser proxy's requests with a body, and the `ws` library for the
 * other upgrades (live view, terminal, proxied WebSockets; a tunnel upgrade on a connection that
 * already carried a request also lands there, and is served the same way).
 * A refused upgrade gets a plain HTTP status with `{error, message}` and the connection is
 * closed; nothing reaches a device.
 * @module
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import { getRequestListener } from "@hono/node-server";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { AppError, toErrorResponse } from "../../shared/errors.ts";
import { fromTrustedProxy, type RequestFacts } from "../tenancy/auth.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { RouteDeps } from "../access/route.ts";
import { isProxyPath } from "../access/proxy/path.ts";
import { type ProxyDeps, sendError, serveProxy } from "../access/proxy/proxy.ts";
import { LIVE_PATH, type LiveViewDeps, prepareLive, serveLive } from "../access/live_ws.ts";
import { serveProxyUpgrade } from "../access/proxy/upgrade.ts";
import { handleOfHost } from "../access/proxy/origin.ts";
import { serveOrigin, serveOriginUpgrade } from "../access/proxy/device_origin.ts";
import {
  prepareTunnel,
  RAW_TUNNEL_PATH,
  serveTunnel,
  TUNNEL_PATH,
  type TunnelTarget,
} from "../access/tunnel_ws.ts";
import { isStoreOutage, logStoreFailure } from "../store/outage.ts";
import {
  CLI_TERMINAL_PATH,
  serveTerminalUpgrade,
  TERMINAL_PATH,
} from "../access/terminal/serve.ts";
import type { TerminalDeps } from "../access/terminal/session.ts";
import { endHandedOver, REFUSAL_LINGER_MS, socketOf } from "../../shared/transport/conn_duplex.ts";
import { acceptKey, NativeWebSocket } from "../../shared/transport/ws_native.ts";
import {
  decodeEarlyData,
  EARLY_DATA_HEADER,
  EARLY_MAX,
  withEarlyFrame,
} from "../../shared/transport/early_data.ts";
import { type Front, type RequestHead, startFront } from "./native_front.ts";
import { Http1Request, Http1Response } from "./native_http1.ts";
import type { ProxyRequest, ProxyResponse } from "../access/proxy/browser_io.ts";
import { listHas } from "./header_list.ts";
import { deadlinesOf } from "../../shared/deadlines.ts";

/** A running HTTP listener. */
export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A refusal as a whole HTTP/1.1 response that closes the connection. */
function refusal(status: number, body: unknown): string {
  const text = JSON.stringify(body);
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
    "content-type: application/json\r\n" +
    `content-length: ${new TextEncoder().encode(text).byteLength}\r\n` +
    "connection: close\r\n\r\n" + text;
}

/** Answers a refused upgrade on the raw socket and closes it. */
function refuse(socket: Duplex, status: number, body: unknown): void {
  endHandedOver(socket, refusal(status, body));
}

/** Reads and drops `conn`'s input until its end or for `ms`, whichever comes first. */
async function drain(conn: Deno.Conn, ms: number): Promise<void> {
  const scratch = new Uint8Array(16 << 10);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  try {
    while ((await Promise.race([conn.read(scratch).catch(() => null), expired])) !== null) {
      /* dropped */
    }
  } finally {
    clearTimeout(timer);
  }
}

/** The same on a connection the native front serves. */
function refuseConn(conn: Deno.Conn, status: number, body: unknown): void {
  const bytes = new TextEncoder().encode(refusal(status, body));
  (async () => {
    let off = 0;
    while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
    await conn.closeWrite();
    // Let the client read the answer before the socket goes: a close with unread input resets
    // the connection, which can take the answer with it. So what the client still sends (the
    // CLI's early data, `early_data.ts`) is read and dropped for a moment, or to its end.
    await drain(conn, REFUSAL_LINGER_MS);
  })().catch(() => {}).finally(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  });
}

/** Whether a Host header can name an origin (the app builds request URLs from it). */
function validHost(host: string | undefined): boolean {
  if (host === undefined) return true;
  try {
    new URL(`http://${host}/`);
    return true;
  } catch {
    return false;
  }
}

/** Decodes one path segment; a malformed percent-escape is the client's error (400), not a crash. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError("bad_request", "malformed percent-encoding in the request path");
  }
}

/** The upgrade request as a fetch Request; a Host or target no URL can hold is a 400. */
function toRequest(req: http.IncomingMessage): Request {
  const fields: [string, string][] = [];
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) { for (const x of v) fields.push([k, x]); }
    else if (v !== undefined) fields.push([k, v]);
  }
  return requestOf(fields, req.url ?? "/");
}

/** A fetch Request from header fields and a request target; 400 when no URL can hold them. */
function requestOf(fields: [string, string][], target: string): Request {
  const headers = new Headers();
  let host: string | undefined;
  try {
    for (const [k, v] of fields) {
      if (k === "host") host ??= v;
      headers.append(k, v);
    }
  } catch {
    throw new AppError("bad_request", "malformed header field");
  }
  return new Request(urlOf(host, target), { headers });
}

/** The URL the app sees for a request; a Host or target no URL can hold is the client's 400. */
function urlOf(host: string | undefined, target: string): URL {
  try {
    return new URL(`http://${host ?? "localhost"}${target}`);
  } catch {
    throw new AppError("bad_request", "malformed Host header or request target");
  }
}

/**
 * What authentication reads of a tunnel upgrade's parsed head, without a fetch `Request`: the
 * same checks (a field value with NUL, CR or LF, a Host or target that makes no URL: 400) and the
 * same view (names case-insensitive, repeated fields joined with ", ").
 */
function headFacts(method: string, fields: [string, string][], target: string): RequestFacts {
  const values = new Map<string, string>();
  let host: string | undefined;
  for (const [k, v] of fields) {
    if (/[\0\r\n]/.test(v)) throw new AppError("bad_request", "malformed header field");
    if (k === "host") host ??= v;
    const had = values.get(k);
    values.set(k, had === undefined ? v : `${had}, ${v}`);
  }
  const url = urlOf(host, target).href;
  return { method, url, headers: { get: (name) => values.get(name.toLowerCase()) ?? null } };
}

/** The tunnel an upgrade path asks for, or null when it is not a tunnel path. */
function tunnelTarget(path: string): TunnelTarget | null {
  const m = TUNNEL_PATH.exec(path);
  if (m) return { handle: decodeSegment(m[1]) };
  const raw = RAW_TUNNEL_PATH.exec(path);
  if (raw) return { ip: raw[1], port: Number(raw[2]) };
  return null;
}

/** A Sec-WebSocket-Key must be 16 bytes in base64. */
function validKey(key: string | undefined): key is string {
  return key !== undefined && /^[A-Za-z0-9+/]{22}==$/.test(key);
}

/** Starts the listener. */
export async function startHttpServer(opts: {
  listen: ListenAddress;
  fetch: Parameters<typeof getRequestListener>[0];
  route: RouteDeps;
  /** The browser proxy under /c/{handle}/ (and on per-handle origins when configured). */
  proxy: ProxyDeps;
  /** The cloud's own base URL as browsers reach it (device origins send them back there). */
  cloudBase: () => string;
  /** The live view (`/api/live/{handle}`); absent: not served. */
  liveView?: LiveViewDeps;
  /** The browser terminal (`/api/terminal/{handle}`). */
  terminal?: TerminalDeps;
}): Promise<HttpServer> {
  const d = opts.route;
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 16 << 20,
  });
  const hono = getRequestListener(opts.fetch);
  // The proxy reads the raw request target (before any URL normalization) and streams both ways.
  const domain = opts.proxy.origins?.domain ?? null;
  /** Whatever a handler throws or rejects with ends this request, never the node. */
  const failedOn = (req: ProxyRequest, res: ProxyResponse, what: string) => (e: unknown) => {
    const { status, body } = toErrorResponse(e);
    if (status >= 500) logStoreFailure(d.log, e, what);
    try {
      if (res.headersSent) res.destroy();
      else sendError(req, res, status, body.error, body.message);
    } catch {
      res.destroy();
    }
  };
  const server = http.createServer((req, res) => {
    const failed = (what: string) => failedOn(req, res, what);
    // node:http keeps a connection it is handed: a browser that reused this one for /c/{h}/ would
    // reach the proxy through node:http from now on. A browser's request (it sends Sec-Fetch-*)
    // ends its connection instead, so the browser's next request comes through the front again.
    // API clients keep theirs.
    if (req.headers["sec-fetch-mode"] !== undefined) res.setHeader("connection", "close");
    try {
      const deviceHandle = handleOfHost(req.headers.host, domain);
      if (deviceHandle) {
        serveOrigin(opts.proxy, req, res, deviceHandle, opts.cloudBase).catch(
          failed("device origin failed"),
        );
        return;
      }
      if (isProxyPath(req.url ?? "/")) {
        serveProxy(opts.proxy, req, res).catch(failed("proxy failed"));
        return;
      }
      // The app builds a URL from Host: a malformed one is the client's error, not a fault.
      if (!validHost(req.headers.host)) {
        throw new AppError("bad_request", "malformed Host header");
      }
      Promise.resolve(hono(req, res)).catch(failed("request failed"));
    } catch (e) {
      failed("request failed")(e);
    }
  });
  // Responses are written in pieces (head, then body chunks as the device sends them): without
  // TCP_NODELAY each piece after the first waits for the client's delayed ACK (40 ms).
  server.on("connection", (socket: { setNoDelay(v: boolean): void }) => socket.setNoDelay(true));
  // What the HTTP parser itself refuses (smuggling shapes, malformed heads) still gets a body.
  server.on("clientError", (err: Error & { code?: string }, socket: Duplex) => {
    if (!socket.writable) return socket.destroy();
    // The parser's own code (HPE_…) stays in the log; the client learns only what it did wrong.
    d.log.info({ code: err.code ?? "parse error" }, "malformed HTTP request refused");
    const tooBig = err.code === "HPE_HEADER_OVERFLOW";
    refuse(socket, tooBig ? 431 : 400, {
      error: "bad_request",
      message: tooBig ? "request header fields too large" : "malformed HTTP request",
    });
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    // Every upgrade is answered from here, whatever its handler throws: a malformed request is
    // the client's problem (400), a fault is logged once and costs this connection only.
    upgrade(req, socket, head).catch((e) => {
      const { status, body } = toErrorResponse(e);
      // A store outage is a (rate-limited) warning, a fault an error, a refusal nothing.
      if (isStoreOutage(e) || !(e instanceof AppError)) logStoreFailure(d.log, e, "upgrade failed");
      if (!socket.destroyed && socket.writable) refuse(socket, status, body);
      else socket.destroy();
    });
  });
  async function upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const deviceHandle = handleOfHost(req.headers.host, domain);
    if (deviceHandle) return await serveOriginUpgrade(opts.proxy, req, socket, head, deviceHandle);
    if (isProxyPath(req.url ?? "/")) return await serveProxyUpgrade(opts.proxy, req, socket, head);
    const path = (req.url ?? "/").split("?")[0];
    const live = LIVE_PATH.exec(path);
    if (live && opts.liveView) {
      const ld = { ...d, ...opts.liveView };
      const prepared = await prepareLive(
        ld,
        toRequest(req),
        decodeSegment(live[1]),
        req.socket.remoteAddress ?? "",
        { upgrade: true },
      );
      if (socket.destroyed) return prepared.feed.release();
      // A handshake ws refuses (no key, wrong version) never reaches the callback: the camera
      // session reference taken above is dropped when that socket closes.
      let served = false;
      socket.once("close", () => {
        if (!served) prepared.feed.release();
      });
      wss.handleUpgrade(req, socket, head, (ws) => {
        served = true;
        serveLive(d, prepared, ws);
      });
      return;
    }
    const term = TERMINAL_PATH.exec(path);
    const cliTerm = CLI_TERMINAL_PATH.exec(path);
    if ((term || cliTerm) && opts.terminal) {
      const to: TunnelTarget = term
        ? { handle: decodeSegment(term[1]) }
        : { ip: cliTerm![1], port: Number(cliTerm![2]) };
      return await serveTerminalUpgrade(opts.terminal, wss, req, toRequest(req), socket, head, to);
    }
    const target = tunnelTarget(path);
    if (!target) return refuse(socket, 404, { error: "not_found", message: "not found" });
    try {
      const prepared = await prepareTunnel(
        d,
        toRequest(req),
        target,
        req.socket.remoteAddress ?? "",
      );
      if (socket.destroyed) {
        prepared.tunnel.socket.close();
        prepared.tunnel.done();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        serveTunnel(d, prepared, ws);
      });
    } catch (e) {
      const { status, body } = toErrorResponse(e);
      if (isStoreOutage(e) || !(e instanceof AppError)) {
        logStoreFailure(d.log, e, "tunnel upgrade failed");
      }
      refuse(socket, status, body);
    }
  }
  /**
   * A tunnel upgrade on a connection the native front read: the same policy functions as the
   * node path above (prepareTunnel, serveTunnel), then RFC 6455 framing on the Deno connection.
   * Returns false for what node:http should answer instead (not a WebSocket upgrade, or a
   * request for a device origin).
   */
  async function serveNative(
    conn: Deno.TcpConn,
    head: RequestHead,
    rest: Uint8Array,
    remote: string,
  ) {
    const get = (name: string) => head.headers.find(([k]) => k === name)?.[1];
    if (!/^websocket$/i.test(get("upgrade") ?? "")) return false;
    if (!listHas(get("connection") ?? "", "upgrade")) return false;
    if (handleOfHost(get("host"), domain)) return false;
    try {
      const target = tunnelTarget(head.target.split("?")[0]);
      if (!target) return false;
      // The client's first bytes, carried in the request (the CLI's early data): they go first
      // into the tunnel, as a frame ahead of what the client sends next; the 101 confirms them.
      // A malformed value is refused before any device is dialed.
      const earlyHeader = get(EARLY_DATA_HEADER);
      const early = earlyHeader === undefined ? null : decodeEarlyData(earlyHeader);
      if (earlyHeader !== undefined && !early) {
        refuseConn(conn, 400, {
          error: "bad_request",
          message: `invalid ${EARLY_DATA_HEADER} header: base64 of 1 to ${EARLY_MAX} bytes`,
        });
        return true;
      }
      const facts = headFacts(head.method, head.headers, head.target);
      const prepared = await prepareTunnel(d, facts, target, remote);
      const drop = () => {
        prepared.tunnel.socket.close();
        prepared.tunnel.done();
      };
      const key = get("sec-websocket-key");
      if (!validKey(key) || get("sec-websocket-version") !== "13") {
        drop();
        refuseConn(conn, 400, {
          error: "bad_request",
          message: "missing or invalid Sec-WebSocket-Key or Sec-WebSocket-Version (13)",
        });
        return true;
      }
      // Like ws: the first subprotocol the client offers is the one selected.
      const protocol = (get("sec-websocket-protocol") ?? "").split(",")[0].trim();
      if (early) rest = withEarlyFrame(early, rest);
      const answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" +
        `Connection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
        (protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : "") +
        (early ? `${EARLY_DATA_HEADER}: ${early.byteLength}\r\n` : "") + "\r\n";
      try {
        const bytes = new TextEncoder().encode(answer);
        let off = 0;
        while (off < bytes.byteLength) off += await conn.write(bytes.subarray(off));
      } catch {
        drop();
        conn.close();
        return true;
      }
      serveTunnel(d, prepared, nativeSocket(conn, rest, protocol));
    } catch (e) {
      const { status, body } = toErrorResponse(e);
      if (isStoreOutage(e) || !(e instanceof AppError)) {
        logStoreFailure(d.log, e, "tunnel upgrade failed");
      }
      refuseConn(conn, status, body);
    }
    return true;
  }
  /**
   * A browser proxy request the front read — under `/c/{h}/`, or any path on a device origin
   * (`--proxy-domain`) — answered on the Deno connection (`native_http1.ts`) by the same
   * `serveProxy` / `serveOrigin` as node:http's. Only a bodiless GET or HEAD over HTTP/1.1 or 1.0
   * with nothing unusual: the rest (bodies, Expect, upgrades, a field value node:http would
   * refuse, the cloud's own pages) returns false and goes to node:http as it always did. A
   * browser that leaves before its answer is out ends the response (its "close") within a second,
   * as node:http's does: the proxy then lets go of the device instead of waiting on it for the
   * proxy timeout.
   */
  async function serveProxyNative(
    conn: Deno.TcpConn,
    head: RequestHead,
    rest: Uint8Array,
    remote: string,
    watch: (onGone: () => void) => void,
  ): Promise<boolean | Uint8Array> {
    // HTTP/1.0 too: what a reverse proxy in front (nginx by default) speaks to the cloud.
    const http10 = head.version === "HTTP/1.0";
    if (!http10 && head.version !== "HTTP/1.1") return false;
    let connection = "";
    let host: string | undefined;
    for (const [k, v] of head.headers) {
      if (NOT_NATIVE.has(k) || /[\0\r\n]/.test(v)) return false;
      if (k === "connection") connection += `${v},`;
      else if (k === "host") host ??= v;
    }
    if (listHas(connection, "upgrade")) return false;
    const deviceHandle = handleOfHost(host, domain);
    if (!deviceHandle && !isProxyPath(head.target)) return false;
    const req = new Http1Request(head, remote);
    const keepAlive = http10 ? listHas(connection, "keep-alive") : !listHas(connection, "close");
    const res = new Http1Response(conn, req, { keepAlive, http10 });
    // Only a request still unanswered after a second is watched: the many quick ones of a camera
    // page do not pay for reading ahead.
    const unwatch = deadlinesOf(WATCH_AFTER_MS).start(() =>
      watch(() => {
        if (res.writableFinished) return;
        req.aborted = true;
        res.destroy();
      })
    );
    await (deviceHandle
      ? serveOrigin(opts.proxy, req, res, deviceHandle, opts.cloudBase)
      : serveProxy(opts.proxy, req, res))
      .catch(failedOn(req, res, deviceHandle ? "device origin failed" : "proxy failed"));
    unwatch();
    // A request left unanswered would hang its browser: end the connection instead.
    if (!res.answered) res.destroy();
    return (await res.done) ? rest : true;
  }
  const native = new Set<NativeWebSocket>();
  /**
   * The framed socket of an upgraded connection, tracked until it closes. Made here, outside
   * `serveNative`, so its close listener keeps nothing of the request (its head, its parsed
   * fields) alive for the tunnel's lifetime.
   */
  function nativeSocket(conn: Deno.TcpConn, rest: Uint8Array, protocol: string): NativeWebSocket {
    const ws = new NativeWebSocket(conn, { role: "server", head: rest });
    ws.protocol = protocol;
    native.add(ws);
    ws.on("close", () => native.delete(ws));
    return ws;
  }
  // node:http listens only on a socket in a private directory (it must be listening to keep
  // connections alive); the port itself is the native front's.
  const dir = await Deno.makeTempDir({ prefix: "nc-http-" });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(`${dir}/http.sock`, () => resolve());
  });
  let front: Front;
  try {
    front = startFront(opts.listen, {
      // With device origins, any GET or HEAD may be one: its Host (in the head) decides.
      claims: (method, target) =>
        (method === "GET" && isTunnelPath(target.split("?")[0])) ||
        ((method === "GET" || method === "HEAD") && (domain !== null || isProxyPath(target))),
      serve: (conn, head, rest, peer, watch) =>
        isTunnelPath(head.target.split("?")[0])
          ? serveNative(conn, head, rest, peer)
          : serveProxyNative(conn, head, rest, peer, watch),
      handOff: (conn, read, peer, ahead) =>
        server.emit("connection", socketOf(conn, read, peer, ahead)),
      trustsProxyHeader: (addr) => fromTrustedProxy(addr, d.authContext?.().trustedProxies),
      badProxyHeader: (addr, message) =>
        d.log.warn({ remote: addr, err: message }, "http: bad PROXY header"),
      refuse: (conn, status, message) =>
        refuseConn(conn, status, { error: "bad_request", message }),
      fault: (e) => d.log.warn({ err: (e as Error)?.message ?? String(e) }, "connection failed"),
    });
  } catch (e) {
    server.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw e;
  }
  return {
    port: front.port,
    close: () =>
      new Promise<void>((r) => {
        front.close();
        for (const ws of native) ws.terminate();
        for (const c of wss.clients) c.terminate();
        server.close(() => r());
        server.closeAllConnections?.();
        // Do not let a stuck keep-alive connection hold a shutdown.
        setTimeout(r, 1_000);
      }).finally(() => Deno.remove(dir, { recursive: true }).catch(() => {})),
  };
}

/** How long a natively served proxy request runs before its browser is watched for leaving. */
const WATCH_AFTER_MS = 1_000;

/** Fields that send a proxy request to node:http: a body, or a wish only it answers. */
const NOT_NATIVE = new Set(["content-length", "transfer-encoding", "expect", "upgrade"]);

/** Whether a path is one of the tunnel endpoints the native front serves. */
function isTunnelPath(path: string): boolean {
  return TUNNEL_PATH.test(path) || RAW_TUNNEL_PATH.test(path);
}
