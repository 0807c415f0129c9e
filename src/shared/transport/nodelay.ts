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

import { openLibc } from "../libc.ts";
import { listenerFd } from "./socket_info.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;

/**
 * Sets TCP_NODELAY on this process's listening socket bound to `port`, so that the connections
 * it accepts inherit it. Returns null on success, or why it was not done.
 */
export function setListenerNoDelay(port: number): string | null {
  if (Deno.build.os !== "linux") return `not supported on ${Deno.build.os}`;
  try {
    const lib = openLibc();
    const fd = listenerFd(lib, port);
    if (fd === null) return `no socket bound to port ${port}`;
    const one = new Int32Array([1]);
    const r = lib.symbols.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, new Uint8Array(one.buffer), 4);
    return r === 0 ? null : "setsockopt(TCP_NODELAY) failed";
  } catch (e) {
    return (e as Error).message;
  }
}
