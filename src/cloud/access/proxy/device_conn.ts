/**
 * Connections from the browser proxy to devices: a tunnel through the agent, wrapped in TLS for
 * HTTPS devices, kept for reuse per handle while idle (a camera page loads dozens of files; a
 * tunnel open is a round trip to the agent). HTTPS toward a device speaks TLS 1.2/1.3 only and
 * accepts self-signed certificates (cameras have nothing else), so identity is tracked instead:
 * the first handshake per handle logs and audits the certificate's subject and SHA-256
 * fingerprint, and a later change of fingerprint is logged and audited as such.
 * @module
 */
import * as tls from "node:tls";
import { duplexOf } from "../../../shared/transport/conn_duplex.ts";
import type { Buffer } from "node:buffer";
import type { Authorized, RouteDeps } from "../route.ts";
import { openTunnel } from "../route.ts";
import type { OpenedTunnel } from "../../control/tunnels.ts";
import { AppError } from "../../../shared/errors.ts";
import { BufferedReader, type ByteConn } from "./http1.ts";
import type { DeviceOrigin } from "./headers.ts";
import { Deadlines } from "../../../shared/deadlines.ts";
import { clip, printable } from "../../../shared/clip.ts";

/** Ports whose devices are spoken to over TLS. */
export const HTTPS_PORTS: ReadonlySet<number> = new Set([443, 4443, 7443, 8443, 9443]);

/**
 * The device origin a handle reaches: HTTPS for a port marked HTTPS, HTTP for one marked HTTP;
 * otherwise HTTPS on the usual TLS ports and HTTP elsewhere, unless the device turned out to
 * speak TLS (`known`, learned by the pool).
 */
export function deviceOriginOf(a: Authorized, known?: "http" | "https"): DeviceOrigin {
  const marked = a.device.protocols?.[a.handle.port];
  return {
    scheme: known ??
      (marked === "https" || marked === "http"
        ? marked
        : HTTPS_PORTS.has(a.handle.port)
        ? "https"
        : "http"),
    host: a.device.host,
    port: a.handle.port,
  };
}

/** A connection to a device, ready for HTTP. */
export interface DeviceConn {
  conn: ByteConn;
  reader: BufferedReader;
  tunnel: OpenedTunnel;
  /** Requests served on it so far. */
  uses: number;
  closed: boolean;
}

/**
 * A TLS connection with a device that failed, in its handshake or after it (a record that does not
 * decrypt, an alert, a cut): the device's fault, answered 502 like any device that stops making
 * sense.
 */
function tlsFailure(e: Error): AppError {
  return new AppError("device_unreachable", `TLS to the device failed: ${e.message}`);
}

/** A ByteConn over a node socket (the TLS layer toward an HTTPS device). */
class NodeConn implements ByteConn {
  #s: tls.TLSSocket;
  #chunks: Uint8Array[] = [];
  #size = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  constructor(s: tls.TLSSocket) {
    this.#s = s;
    const wake = () => {
      const w = this.#wake;
      this.#wake = null;
      w?.();
    };
    s.on("data", (c: Buffer) => {
      this.#chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength));
      this.#size += c.byteLength;
      if (this.#size > 1 << 20) s.pause();
      wake();
    });
    s.on("end", () => {
      this.#ended = true;
      wake();
    });
    s.on("close", () => {
      this.#ended = true;
      wake();
    });
    s.on("error", (e: Error) => {
      this.#error = tlsFailure(e);
      wake();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (!this.#chunks.length) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((r) => this.#wake = r);
    }
    const head = this.#chunks[0];
    const n = Math.min(p.length, head.length);
    p.set(head.subarray(0, n));
    if (n === head.length) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(n);
    this.#size -= n;
    if (this.#size < 256 << 10) this.#s.resume();
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#s.write(p, (e) => e ? reject(tlsFailure(e)) : resolve(p.length));
    });
  }

  close(): void {
    this.#s.destroy();
  }
}

/** What the pool needs besides routing. */
export interface DeviceConnDeps extends RouteDeps {
  /** Called once per TLS handshake with the device certificate's identity. */
  onCertificate?: (a: Authorized, subject: string, fingerprint: string) => Promise<void>;
}

/** Wraps a tunnel in TLS toward an HTTPS device. */
async function startTls(
  d: DeviceConnDeps,
  a: Authorized,
  tunnel: OpenedTunnel,
  handshakeMs: number,
): Promise<ByteConn> {
  const host = a.device.host;
  const isIp = /^[\d.]+$/.test(host) || host.includes(":");
  const s = tls.connect({
    socket: duplexOf(tunnel.socket),
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.3",
    ...(isIp ? {} : { servername: host }),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      s.once("secureConnect", () => resolve());
      s.once(
        "error",
        (e: Error) => reject(tlsFailure(e)),
      );
      // A device that takes the connection and never finishes the handshake (or sends a record
      // that claims more than it sends) is given up on as one that never answers.
      timer = setTimeout(() => {
        reject(
          new AppError(
            "device_timeout",
            `the device did not finish its TLS handshake in ${handshakeMs / 1000} s`,
          ),
        );
        s.destroy();
      }, handshakeMs);
    });
  } finally {
    clearTimeout(timer);
  }
  const cert = s.getPeerCertificate();
  // The subject is the device's to write: shown in the audit log as a name, never as markup,
  // escape sequences or text that reorders the page around it.
  const subject = cert?.subject
    ? clip(printable(Object.entries(cert.subject).map(([k, v]) => `${k}=${v}`).join(", ")))
    : "";
  const fingerprint = (cert?.fingerprint256 ?? "").replace(/:/g, "").toLowerCase();
  await d.onCertificate?.(a, subject, fingerprint);
  return new NodeConn(s);
}

/** The pool of idle device connections, per handle. */
export class DeviceConnPool {
  #idle = new Map<string, { dc: DeviceConn; cancel: () => void }[]>();
  #d: DeviceConnDeps;
  #maxIdle: number;
  #idleMs: number;
  #handshakeMs: number;

  /**
   * Creates a pool keeping at most `maxIdle` idle connections per handle for `idleMs`; a TLS
   * handshake with a device that takes longer than `handshakeMs` fails (504).
   */
  constructor(
    d: DeviceConnDeps,
    opts: { maxIdle?: number; idleMs?: number; handshakeMs?: number } = {},
  ) {
    this.#d = d;
    this.#handshakeMs = opts.handshakeMs ?? 30_000;
    // A browser opens up to 6 connections per host and several operators may watch one
    // camera; with fewer kept than are busy at once, every request past them opens (and then
    // closes) a whole tunnel through the agent — measured 1.4 k vs 9 k req/s at 64 clients.
    this.#maxIdle = opts.maxIdle ?? 64;
    this.#idleMs = opts.idleMs ?? 15_000;
    this.#expiry = new Deadlines(this.#idleMs);
  }

  /** Idle times of pooled connections (one timer for all: a pool serves a request per use). */
  #expiry: Deadlines;

  #schemes = new Map<string, "http" | "https">();

  /** The device origin for a handle, with what the pool learned about its scheme. */
  origin(a: Authorized): DeviceOrigin {
    return deviceOriginOf(a, this.#schemes.get(a.handle.id));
  }

  /** Whether the handle's scheme is still a guess (no exchange has succeeded yet). */
  guessing(a: Authorized): boolean {
    return !this.#schemes.has(a.handle.id);
  }

  /** Records the scheme that worked for a handle. */
  learn(a: Authorized, scheme: "http" | "https"): void {
    if (this.#schemes.size > 100_000) this.#schemes.clear();
    this.#schemes.set(a.handle.id, scheme);
  }

  /** An idle connection for the handle, if one is kept. */
  take(handleId: string): DeviceConn | null {
    const list = this.#idle.get(handleId);
    while (list?.length) {
      const { dc, cancel } = list.pop()!;
      cancel();
      if (dc.closed) continue;
      this.#streams(dc, +1);
      return dc;
    }
    return null;
  }

  /** Opens a new connection through the agent (TLS for HTTPS devices). */
  async open(a: Authorized, scheme = this.origin(a).scheme): Promise<DeviceConn> {
    const tunnel = await openTunnel(this.#d, a, "proxy");
    let conn: ByteConn = tunnel.socket;
    if (scheme === "https") {
      try {
        conn = await startTls(this.#d, a, tunnel, this.#handshakeMs);
      } catch (e) {
        this.#finish(tunnel);
        throw e;
      }
    }
    return { conn, reader: new BufferedReader(conn), tunnel, uses: 0, closed: false };
  }

  /** Returns a connection after a complete exchange that left it reusable. */
  release(handleId: string, dc: DeviceConn): void {
    const list = this.#idle.get(handleId) ?? [];
    if (dc.closed || list.length >= this.#maxIdle || dc.reader.buffered > 0) {
      this.close(dc);
      return;
    }
    this.#streams(dc, -1);
    const cancel = this.#expiry.start(() => {
      const i = list.findIndex((x) => x.dc === dc);
      if (i >= 0) list.splice(i, 1);
      this.#streams(dc, +1);
      this.close(dc);
    });
    list.push({ dc, cancel });
    this.#idle.set(handleId, list);
  }

  /** Closes a connection for good. */
  close(dc: DeviceConn): void {
    if (dc.closed) return;
    dc.closed = true;
    try {
      dc.conn.close();
    } catch { /* already closed */ }
    this.#finish(dc.tunnel);
  }

  /** Closes every idle connection. */
  closeAll(): void {
    for (const list of this.#idle.values()) {
      for (const { dc, cancel } of list.splice(0)) {
        cancel();
        this.#streams(dc, +1);
        this.close(dc);
      }
    }
  }

  #finish(tunnel: OpenedTunnel): void {
    try {
      tunnel.socket.close();
    } catch { /* already closed */ }
    tunnel.done();
    const s = this.#d.registry.get(tunnel.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
  }

  #streams(dc: DeviceConn, delta: number): void {
    const s = this.#d.registry.get(dc.tunnel.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams + delta);
  }
}
