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
  socket.end(
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
  let dc;
  try {
    const device = d.pool.origin(x.target);
    dc = await openAudited(d, x.principal, x.target, device.scheme, "proxy-upgrade");
    const headers = requestHeadersToDevice(x.raw, {
      device,
      prefix: x.prefix,
      cloudOrigin: cloudOrigin(req),
      upgrade: true,
    });
    await writeRequestHead(dc.conn, req.method ?? "GET", x.devicePath, headers);
    const resHead = await headWithin(dc, d.responseTimeoutMs);
    const out = responseHeadersToBrowser(resHead.headers, {
      device,
      prefix: x.prefix,
      upgrade: resHead.status === 101,
    });
    let text = `HTTP/1.1 ${resHead.status} ${resHead.reason}\r\n`;
    for (const [k, v] of out) text += `${k}: ${v}\r\n`;
    if (resHead.status !== 101) {
      // Refused by the device: relay its answer without a body and close both sides.
      socket.end(text + "content-length: 0\r\nconnection: close\r\n\r\n");
      d.pool.close(dc);
      return;
    }
    socket.write(text + "\r\n");
    const leftover = dc.reader.drain();
    if (leftover.length) socket.write(leftover);
    if (head.length) await writeAll(dc.conn, head);
    pump(d, dc, socket, x.principal);
  } catch (e) {
    if (dc) d.pool.close(dc);
    fail(socket, e);
  }
}

/** Joins the browser's socket and the device connection until either ends. */
function pump(
  d: ProxyDeps,
  dc: NonNullable<Awaited<ReturnType<ProxyDeps["pool"]["open"]>>>,
  socket: Duplex,
  principal: Principal,
): void {
  let closed = false;
  const unlive = d.live?.add(principal, () => close());
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
