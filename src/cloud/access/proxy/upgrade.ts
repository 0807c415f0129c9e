/**
 * WebSocket (and any other Upgrade) through the browser proxy: after the same policy as a plain
 * request, the browser's handshake goes to the device on a fresh tunnel with cloud credentials
 * stripped. A device that answers 101 gets its answer relayed and the two sockets are joined by
 * a byte pump; a device that refuses gets its answer relayed and both connections are closed, so
 * nothing more reaches the device. Refusals by the cloud are plain HTTP answers on the socket.
 * @module
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import { Buffer } from "node:buffer";
import { AppError } from "../../../shared/errors.ts";
import { endHandedOver } from "../../../shared/transport/conn_duplex.ts";
import type { Principal } from "../../tenancy/auth.ts";
import { parseProxyPath } from "./path.ts";
import { requireSameOriginUpgrade } from "../ws_origin.ts";
import { requestHeadersToDevice, responseHeadersToBrowser } from "./headers.ts";
import { writeAll, writeRequestHead } from "./http1.ts";
import {
  admit,
  type Admitted,
  cloudOrigin,
  headWithin,
  hygiene,
  openAudited,
  type ProxyDeps,
  rawPairs,
} from "./proxy.ts";

/** Writes a small JSON answer on a raw socket and closes it. */
export function answer(socket: Duplex, status: number, reason: string, body: unknown): void {
  const text = JSON.stringify(body);
  endHandedOver(
    socket,
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
  );
}

/** Answers a refused upgrade on the raw socket. */
export function fail(socket: Duplex, e: unknown): void {
  if (e instanceof AppError) {
    answer(socket, e.httpStatus, "Refused", { error: e.code, message: e.message });
  } else {
    answer(socket, 502, "Bad Gateway", {
      error: "device_unreachable",
      message: `device error: ${(e as Error).message}`,
    });
  }
}

/** Serves an upgrade request under `/c/{h}/`. */
export async function serveProxyUpgrade(
  d: ProxyDeps,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const parsed = parseProxyPath(req.url ?? "/");
  if (!parsed.ok) {
    return answer(socket, 404, "Not Found", { error: "not_found", message: parsed.message });
  }
  const raw = rawPairs(req);
  const bad = hygiene(raw);
  if (bad) return answer(socket, 400, "Bad Request", { error: "bad_request", message: bad });
  try {
    const { principal, target, refusal } = await admit(d, req, parsed.handle);
    if (refusal) {
      return answer(socket, 403, "Forbidden", { error: "forbidden", message: refusal });
    }
    if (!principal || !target) throw new AppError("auth_required");
    // The session cookie rides along on any page's WebSocket: only the cloud's own pages may.
    if (principal.kind === "session") {
      const origin = req.headers.origin;
      requireSameOriginUpgrade(typeof origin === "string" ? origin : null, req.headers.host);
    }
    await upgradeTo(d, req, socket, head, {
      raw,
      devicePath: parsed.devicePath,
      prefix: `/c/${parsed.handle}`,
      principal,
      target,
    });
  } catch (e) {
    fail(socket, e);
  }
}

/** The authorized part of an upgrade: the handshake to the device, then the byte pump. */
export async function upgradeTo(
  d: ProxyDeps,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  x: Admitted,
): Promise<void> {
  let dc: Awaited<ReturnType<ProxyDeps["pool"]["open"]>> | undefined;
  // A browser that leaves before the device's answer frees the device's connection at once
  // rather than after the proxy timeout (as a plain request's does: proxy.ts exchange).
  let left = false;
  const watch = watchBrowser(socket, () => {
    left = true;
    if (dc) d.pool.close(dc);
  });
  try {
    const device = d.pool.origin(x.target);
    const method = req.method ?? "GET";
    // The camera's own challenge is answered with cloud-held credentials exactly as for a plain
    // request (proxy.ts exchange), unless the browser brought its own answer.
    const ownAuth = x.raw.some(([k, v]) =>
      k.toLowerCase() === "authorization" && !/^bearer\s/i.test(v)
    );
    const login = ownAuth ? undefined : d.login;
    const handshake = async (authorization: string | null) => {
      const c = await openAudited(d, x.principal, x.target, device.scheme, "proxy-upgrade");
      dc = c;
      if (left) throw new BrowserGone();
      const headers = requestHeadersToDevice(x.raw, {
        device,
        prefix: x.prefix,
        cloudOrigin: cloudOrigin(req, d.publicUrl()),
        upgrade: true,
      });
      const auth = authorization ??
        await login?.preemptive(x.target, x.principal, c, method, x.devicePath);
      if (auth) headers.push(["Authorization", auth]);
      await writeRequestHead(c.conn, method, x.devicePath, headers);
      return { c, head: await headWithin(c, d.responseTimeoutMs) };
    };
    let { c, head: resHead } = await handshake(null);
    if (resHead.status === 401 && login) {
      const value = await login.answer(x.target, x.principal, c, resHead, method, x.devicePath);
      if (value) {
        // A fresh connection for the answered handshake (the refusal's body is not read).
        d.pool.close(c);
        dc = undefined;
        ({ c, head: resHead } = await handshake(value));
      }
    }
    dc = c;
    if (left) throw new BrowserGone();
    const out = responseHeadersToBrowser(resHead.headers, {
      device,
      prefix: x.prefix,
      upgrade: resHead.status === 101,
    });
    let text = `HTTP/1.1 ${resHead.status} ${resHead.reason}\r\n`;
    for (const [k, v] of out) text += `${k}: ${v}\r\n`;
    const early = watch.stop();
    if (resHead.status !== 101) {
      // Refused by the device: relay its answer without a body and close both sides.
      endHandedOver(socket, text + "content-length: 0\r\nconnection: close\r\n\r\n");
      d.pool.close(dc);
      return;
    }
    socket.write(text + "\r\n");
    const leftover = dc.reader.drain();
    if (leftover.length) socket.write(leftover);
    if (head.length) await writeAll(dc.conn, head);
    for (const chunk of early) await writeAll(dc.conn, chunk);
    pump(d, dc, socket, x.principal, x.target.handle.id);
  } catch (e) {
    watch.stop();
    if (dc) d.pool.close(dc);
    if (left) socket.destroy();
    else fail(socket, e);
  }
}

/** Thrown where a handshake finds the browser gone: nothing is answered. */
class BrowserGone extends Error {}

/** The most a browser may send before the device's 101 is read; then its socket is paused. */
const EARLY_BYTES = 64 << 10;

/**
 * Reads the browser's socket while its handshake waits on the device, so that its leaving (an
 * end, a reset, a close) calls `onGone`: a socket no one reads shows none of that. Bytes sent
 * early (a client may write before the 101 arrives) are kept, up to {@link EARLY_BYTES}, and
 * `stop` returns them for the device once the socket is handed on.
 */
function watchBrowser(socket: Duplex, onGone: () => void): { stop(): Uint8Array[] } {
  const early: Uint8Array[] = [];
  let size = 0;
  let stopped = false;
  const gone = () => {
    if (!stopped) onGone();
  };
  const data = (chunk: Uint8Array) => {
    early.push(chunk);
    size += chunk.length;
    if (size >= EARLY_BYTES) socket.pause();
  };
  socket.on("data", data);
  socket.on("end", gone);
  socket.on("close", gone);
  socket.on("error", gone);
  return {
    stop() {
      if (!stopped) {
        stopped = true;
        socket.pause();
        socket.off("data", data);
        socket.off("end", gone);
        socket.off("close", gone);
        // The error listener stays (doing nothing now): until the pump has its own, an error on
        // the socket with no listener would be thrown.
      }
      return early;
    },
  };
}

/** Joins the browser's socket and the device connection until either ends. */
function pump(
  d: ProxyDeps,
  dc: NonNullable<Awaited<ReturnType<ProxyDeps["pool"]["open"]>>>,
  socket: Duplex,
  principal: Principal,
  handleId: string,
): void {
  let closed = false;
  const unlive = d.live?.add(principal, () => close(), {
    kind: "proxied WebSocket",
    handleId,
    startedAt: d.clock.now(),
  });
  const close = () => {
    if (closed) return;
    closed = true;
    unlive?.();
    socket.destroy();
    d.pool.close(dc);
  };
  socket.on("error", close);
  socket.on("close", close);
  socket.on("data", (chunk: Uint8Array) => {
    socket.pause();
    writeAll(dc.conn, chunk).then(() => socket.resume(), close);
  });
  socket.on("end", close);
  // The handshake's watch left the socket paused, and a data listener does not undo that.
  socket.resume();
  // A browser gone while the 101 and its first bytes were being passed on: its close was before
  // these listeners.
  if (socket.destroyed) close();
  (async () => {
    const buf = new Uint8Array(64 << 10);
    try {
      for (;;) {
        const n = await dc.conn.read(buf);
        if (n === null) break;
        const ok = socket.write(buf.slice(0, n));
        if (!ok) {
          await new Promise((r) => {
            socket.once("drain", r);
            socket.once("close", r);
          });
        }
      }
    } catch { /* closed */ }
    close();
  })();
}
