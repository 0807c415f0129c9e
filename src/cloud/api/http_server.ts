/**
 * The HTTP listener: node's http server (so WebSocket tunnels get a raw socket whose reads can
 * be paused — real backpressure from operator to device) serving the hono app for ordinary
 * requests and the `ws` library for tunnel upgrades. A refused upgrade gets a plain HTTP status
 * with `{error, message}` and the connection is closed; nothing reaches a device.
 * @module
 */
import * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import { getRequestListener } from "@hono/node-server";
// @ts-types="@types/ws"
import { WebSocketServer } from "ws";
import { AppError, toErrorResponse } from "../../shared/errors.ts";
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

/** Answers a refused upgrade on the raw socket and closes it. */
function refuse(socket: Duplex, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}\r\n` +
      "content-type: application/json\r\n" +
      `content-length: ${new TextEncoder().encode(text).byteLength}\r\n` +
      "connection: close\r\n\r\n" + text,
  );
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
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) {
    if (Array.isArray(v)) { for (const x of v) headers.append(k, x); }
    else if (v !== undefined) headers.set(k, v);
  }
  let url: URL;
  try {
    url = new URL(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`);
  } catch {
    throw new AppError("bad_request", "malformed Host header or request target");
  }
  return new Request(url, { headers });
}

/** Starts the listener. */
export function startHttpServer(opts: {
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
  const server = http.createServer((req, res) => {
    // Whatever a handler throws or rejects with ends this request, never the node.
    const failed = (what: string) => (e: unknown) => {
      const { status, body } = toErrorResponse(e);
      if (status >= 500) logStoreFailure(d.log, e, what);
      try {
        if (res.headersSent) res.destroy();
        else sendError(req, res, status, body.error, body.message);
      } catch {
        res.destroy();
      }
    };
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
        serveLive(d, prepared, ws, req.socket.remoteAddress ?? "unknown");
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
    const m = TUNNEL_PATH.exec(path);
    const raw = RAW_TUNNEL_PATH.exec(path);
    let target: TunnelTarget;
    if (m) target = { handle: decodeSegment(m[1]) };
    else if (raw) target = { ip: raw[1], port: Number(raw[2]) };
    else return refuse(socket, 404, { error: "not_found", message: "not found" });
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
        serveTunnel(d, prepared, ws, req.socket.remoteAddress ?? "unknown");
      });
    } catch (e) {
      const { status, body } = toErrorResponse(e);
      if (isStoreOutage(e) || !(e instanceof AppError)) {
        logStoreFailure(d.log, e, "tunnel upgrade failed");
      }
      refuse(socket, status, body);
    }
  }
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.listen.port, opts.listen.hostname, () => {
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr ? addr.port : opts.listen.port,
        close: () =>
          new Promise<void>((r) => {
            for (const c of wss.clients) c.terminate();
            server.close(() => r());
            server.closeAllConnections?.();
            // Do not let a stuck keep-alive connection hold a shutdown.
            setTimeout(r, 1_000);
          }),
      });
    });
  });
}
