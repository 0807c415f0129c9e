/**
 * What a socket descriptor is, read through libc (`shared/libc.ts`): its local and peer address,
 * an int option, whether it listens; and this process's socket descriptors. The transport finds
 * the descriptor behind a Deno connection or listener this way, to set TCP_NODELAY on a TLS
 * listener (`nodelay.ts`), TCP_NOTSENT_LOWAT on the data connections (`notsent_lowat.ts`) and to
 * shut down a socket whose Deno resource is stuck in a TLS handshake (`socket_shutdown.ts`).
 * Linux only (`/proc/self/fd`, Linux's sockaddr layout); callers check the OS and treat any
 * failure as "not possible here".
 * @module
 */

import type { Libc } from "../libc.ts";

const AF_INET = 2;
const AF_INET6 = 10;

/** A socket address as libc reports it: port and the address bytes (4 or 16). */
export interface SockAddr {
  port: number;
  addr: Uint8Array;
}

/** Reads a socket's local (`getsockname`) or peer (`getpeername`) address; null if not IP. */
export function sockAddr(
  lib: Libc,
  fd: number,
  which: "getsockname" | "getpeername",
): SockAddr | null {
  const buf = new Uint8Array(128);
  const len = new Uint32Array([buf.byteLength]);
  if (lib.symbols[which](fd, buf, new Uint8Array(len.buffer)) !== 0) return null;
  const family = buf[0] | (buf[1] << 8); // sa_family_t, little-endian on Linux x86/arm
  const port = (buf[2] << 8) | buf[3]; // sin_port / sin6_port, network order
  if (family === AF_INET) return { port, addr: buf.slice(4, 8) };
  if (family === AF_INET6) return { port, addr: buf.slice(8, 24) };
  return null;
}

/** The descriptors of this process that are sockets. */
export function* socketFds(): Generator<number> {
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    const fd = Number(entry.name);
    let link: string;
    try {
      link = Deno.readLinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (link.startsWith("socket:")) yield fd;
  }
}

const SOL_SOCKET = 1;
const SO_ACCEPTCONN = 30;

/** An int socket option of `fd` (getsockopt), or null when it cannot be read. */
export function intSockOpt(lib: Libc, fd: number, level: number, opt: number): number | null {
  const val = new Int32Array(1);
  const len = new Uint32Array([4]);
  const r = lib.symbols.getsockopt(
    fd,
    level,
    opt,
    new Uint8Array(val.buffer),
    new Uint8Array(len.buffer),
  );
  return r === 0 ? val[0] : null;
}

/** Whether a socket descriptor is listening (accepted connections share its port). */
function isListening(lib: Libc, fd: number): boolean {
  return intSockOpt(lib, fd, SOL_SOCKET, SO_ACCEPTCONN) === 1;
}

/** The descriptor of this process's listening socket bound to `port`, or null. */
export function listenerFd(lib: Libc, port: number): number | null {
  for (const fd of socketFds()) {
    if (sockAddr(lib, fd, "getsockname")?.port === port && isListening(lib, fd)) return fd;
  }
  return null;
}
