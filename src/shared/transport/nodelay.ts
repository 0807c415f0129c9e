/**
 * TCP_NODELAY for the connections Deno's TLS listener accepts. A `Deno.TlsConn` has no
 * `setNoDelay`, so every small write on an accepted TLS connection is subject to Nagle's
 * algorithm; with TLS 1.3 the server's session tickets are a small unacknowledged segment right
 * after the handshake, the peer delays its ACK (40 ms on Linux), and the tunnel's first byte
 * from the cloud waits for it — measured 42 ms per open + first byte round trip. Linux copies
 * TCP_NODELAY from a listening socket to the sockets it accepts, so setting it once on the
 * listener's file descriptor (found by its bound port, set through libc with FFI) fixes every
 * data connection. Where that is not possible (another OS, no FFI permission) nothing changes
 * and the caller logs why.
 * @module
 */

import { type Libc, openLibc, sockAddr, socketFds } from "./libc.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const SOL_SOCKET = 1;
const SO_ACCEPTCONN = 30;

/** Whether a socket descriptor is listening (accepted connections share its port). */
function isListening(lib: Libc, fd: number): boolean {
  const val = new Int32Array(1);
  const len = new Uint32Array([4]);
  const r = lib.symbols.getsockopt(
    fd,
    SOL_SOCKET,
    SO_ACCEPTCONN,
    new Uint8Array(val.buffer),
    new Uint8Array(len.buffer),
  );
  return r === 0 && val[0] === 1;
}

/**
 * Sets TCP_NODELAY on this process's listening socket bound to `port`, so that the connections
 * it accepts inherit it. Returns null on success, or why it was not done.
 */
export function setListenerNoDelay(port: number): string | null {
  if (Deno.build.os !== "linux") return `not supported on ${Deno.build.os}`;
  try {
    const lib = openLibc();
    for (const fd of socketFds()) {
      if (sockAddr(lib, fd, "getsockname")?.port !== port || !isListening(lib, fd)) continue;
      const one = new Int32Array([1]);
      const r = lib.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Uint8Array(one.buffer), 4);
      return r === 0 ? null : "setsockopt(TCP_NODELAY) failed";
    }
    return `no socket bound to port ${port}`;
  } catch (e) {
    return (e as Error).message;
  }
}
