/**
 * TCP_NOTSENT_LOWAT on the data connections: at most this many bytes may wait unsent in the
 * kernel's send buffer of a data connection before the socket stops being writable. Linux
 * autotunes a busy connection's send buffer to megabytes; a small frame of an interactive
 * stream written behind megabytes of another stream's bulk waits until the kernel has sent them
 * all, where the mux's own scheduler (`mux_session.ts`), which takes one frame per stream in
 * turn, could have put it first. With the option set, bulk waits in the application and the
 * kernel holds little more than what is on the wire.
 *
 * Set through libc (Deno has no API for it): on the agent's dialed TCP socket before TLS starts
 * on it, and on the cloud's data listener, whose accepted sockets inherit it on Linux (measured
 * with getsockopt on an accepted socket, as for TCP_NODELAY in `nodelay.ts`). Where that is not
 * possible (another OS, no FFI permission) nothing changes and the caller logs why.
 * @module
 */
import { type Libc, openLibc } from "../libc.ts";
import { intSockOpt, listenerFd, sockAddr, socketFds } from "./socket_info.ts";

const IPPROTO_TCP = 6;
const TCP_NOTSENT_LOWAT = 25;

/**
 * Unsent bytes a data connection's kernel send buffer may hold. Small, so the queue forms in the
 * mux where small frames can pass it; bulk throughput on loopback did not drop with it (README,
 * "Performance").
 */
export const DATA_NOTSENT_LOWAT = 32 << 10;

function setOn(lib: Libc, fd: number, bytes: number): string | null {
  const v = new Int32Array([bytes]);
  const r = lib.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, new Uint8Array(v.buffer), 4);
  return r === 0 ? null : "setsockopt(TCP_NOTSENT_LOWAT) failed";
}

/** The descriptor of this process's TCP socket with local port `local` and peer port `peer`. */
function connFd(lib: Libc, local: number, peer: number): number | null {
  for (const fd of socketFds()) {
    if (sockAddr(lib, fd, "getsockname")?.port !== local) continue;
    if (sockAddr(lib, fd, "getpeername")?.port === peer) return fd;
  }
  return null;
}

/**
 * Sets TCP_NOTSENT_LOWAT to `bytes` on this process's listening socket bound to `port`, so the
 * connections it accepts inherit it. Returns null on success, or why it was not done.
 */
export function setListenerNotSentLowat(port: number, bytes = DATA_NOTSENT_LOWAT): string | null {
  if (Deno.build.os !== "linux") return `not supported on ${Deno.build.os}`;
  try {
    const lib = openLibc();
    const fd = listenerFd(lib, port);
    return fd === null ? `no socket bound to port ${port}` : setOn(lib, fd, bytes);
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Sets TCP_NOTSENT_LOWAT to `bytes` on a connected TCP socket of this process (found by its
 * local and peer ports). Returns null on success, or why it was not done.
 */
export function setConnNotSentLowat(
  conn: { localAddr: Deno.Addr; remoteAddr: Deno.Addr },
  bytes = DATA_NOTSENT_LOWAT,
): string | null {
  if (Deno.build.os !== "linux") return `not supported on ${Deno.build.os}`;
  // A TlsConn from Deno.startTls reports its addresses without `transport`.
  const local = (conn.localAddr as Partial<Deno.NetAddr>).port;
  const peer = (conn.remoteAddr as Partial<Deno.NetAddr>).port;
  if (typeof local !== "number" || typeof peer !== "number") return "not a TCP connection";
  try {
    const lib = openLibc();
    const fd = connFd(lib, local, peer);
    return fd === null ? "socket not found" : setOn(lib, fd, bytes);
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * TCP_NOTSENT_LOWAT of this process's TCP socket with local port `local` and peer port `peer`
 * (null when there is no such socket or it cannot be read; 0 means "not set", the system
 * default applies). For tests and diagnostics.
 */
export function readNotSentLowat(local: number, peer: number): number | null {
  if (Deno.build.os !== "linux") return null;
  try {
    const lib = openLibc();
    const fd = connFd(lib, local, peer);
    if (fd === null) return null;
    return intSockOpt(lib, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT);
  } catch {
    return null;
  }
}
