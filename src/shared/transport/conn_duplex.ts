/**
 * A node `Duplex` over a Deno connection, for node libraries that take a socket (node:tls for
 * HTTPS devices, ssh2 for the browser terminal). Reads happen only when the library asks for
 * more (backpressure holds), writes complete before the library's callback, `end()` half-closes.
 * @module
 */
import { Duplex } from "node:stream";
import type { ByteStream } from "./byte_stream.ts";

/** Wraps a Deno connection or tunnel stream; destroying the Duplex closes it. */
export function duplexOf(conn: ByteStream): Duplex {
  const buf = new Uint8Array(64 << 10);
  let reading = false;
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      conn.read(buf).then((n) => {
        reading = false;
        this.push(n === null ? null : buf.slice(0, n));
      }, (e) => this.destroy(e));
    },
    write(chunk: Uint8Array, _enc, cb) {
      (async () => {
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      })().then(() => cb(), cb);
    },
    final(cb) {
      conn.closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      try {
        conn.close();
      } catch { /* already closed */ }
      cb(err);
    },
  });
}

/** How long a refused upgrade's input is read and dropped after its answer went out. */
export const REFUSAL_LINGER_MS = 200;
/** A refused client that does not take even its answer is let go after this. */
const REFUSAL_MAX_MS = 10_000;

/**
 * Answers on a socket node:http handed over (its "upgrade" and "clientError" events) and closes
 * it. Ending only this side is not enough there: no one reads such a socket, and a Duplex that
 * allows half-open waits for the client's end, which is never read — so the connection and its
 * descriptor stayed open for good, and refused upgrades (a hostile camera's, or anyone's without
 * a credential) filled the node's descriptors. The client's input is read and dropped, and the
 * socket closed once the client ended or {@link REFUSAL_LINGER_MS} after the answer went out (a
 * close with unread input resets the connection, which can take the answer with it).
 */
export function endHandedOver(socket: Duplex, answer: string): void {
  const close = () => socket.destroy();
  const cap = setTimeout(close, REFUSAL_MAX_MS);
  socket.once("close", () => clearTimeout(cap));
  socket.on("error", () => {});
  socket.on("end", close);
  socket.resume();
  socket.end(answer, () => setTimeout(close, REFUSAL_LINGER_MS));
}

/** What node:http asks of a socket beyond a Duplex (addresses, timeouts, Nagle, keep-alive). */
export interface SocketLike extends Duplex {
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  setTimeout(ms: number, cb?: () => void): SocketLike;
  setNoDelay(on?: boolean): SocketLike;
  setKeepAlive(on?: boolean, delay?: number): SocketLike;
  destroySoon(): void;
}

/**
 * A TCP connection accepted by Deno as the socket a `node:http` server expects on its
 * "connection" event: `head` (bytes already read from it) comes first, then what `ahead` (a read
 * already under way, null at the connection's end) brings; the peer's address is the real one
 * (or `peer`, the client a trusted balancer named in front of it); writes of several chunks go
 * out as one; and `setTimeout` is a real idle timer (node:http closes idle keep-alive
 * connections with it: it fires `idleMs` after the last read or write, as node's own sockets do).
 */
export function socketOf(
  conn: Deno.TcpConn,
  head: Uint8Array,
  peer?: string,
  ahead?: Promise<Uint8Array | null>,
): SocketLike {
  const buf = new Uint8Array(64 << 10);
  let reading = false;
  // The idle timer is armed once and moved only when it fires; activity just records when it
  // happened (a timer cleared and set on every read and write cost a tenth of a small request).
  let idleMs = 0;
  let last = 0;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number) => {
    idle = setTimeout(() => {
      idle = undefined;
      const left = last + idleMs - Date.now();
      if (left > 0) arm(left);
      else s.emit("timeout");
    }, ms);
  };
  const touch = () => {
    if (idleMs > 0) {
      last = Date.now();
      if (idle === undefined) arm(idleMs);
    }
  };
  const writeAll = async (chunk: Uint8Array) => {
    let off = 0;
    while (off < chunk.length) off += await conn.write(chunk.subarray(off));
    touch();
  };
  const s = new Duplex({
    read() {
      if (reading) return;
      reading = true;
      if (ahead) {
        const early = ahead;
        ahead = undefined;
        early.then((bytes) => {
          reading = false;
          touch();
          this.push(bytes);
        });
        return;
      }
      conn.read(buf).then((n) => {
        reading = false;
        touch();
        this.push(n === null ? null : buf.slice(0, n));
      }, (e) => this.destroy(e));
    },
    write(chunk: Uint8Array, _enc, cb) {
      writeAll(chunk).then(() => cb(), cb);
    },
    writev(chunks: { chunk: Uint8Array }[], cb) {
      let len = 0;
      for (const c of chunks) len += c.chunk.length;
      const out = new Uint8Array(len);
      let at = 0;
      for (const c of chunks) {
        out.set(c.chunk, at);
        at += c.chunk.length;
      }
      writeAll(out).then(() => cb(), cb);
    },
    final(cb) {
      conn.closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      clearTimeout(idle);
      try {
        conn.close();
      } catch { /* already closed */ }
      cb(err);
    },
  }) as SocketLike;
  const remote = conn.remoteAddr, local = conn.localAddr;
  s.remoteAddress = peer ?? remote.hostname;
  s.remotePort = remote.port;
  s.localAddress = local.hostname;
  s.localPort = local.port;
  s.setTimeout = (ms: number, cb?: () => void) => {
    if (cb) s.once("timeout", cb);
    if (ms !== idleMs) {
      clearTimeout(idle);
      idle = undefined;
      idleMs = ms;
    }
    touch();
    return s;
  };
  s.setNoDelay = () => s;
  s.setKeepAlive = () => s;
  s.destroySoon = () => {
    s.end();
    s.once("finish", () => s.destroy());
  };
  if (head.byteLength > 0) s.unshift(head);
  return s;
}
