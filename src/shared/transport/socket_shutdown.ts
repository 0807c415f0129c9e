/**
 * Really ends an accepted connection whose Deno resource cannot be closed. On Deno 2.9 a
 * `Deno.TlsConn` stuck in its server handshake (a client that connected and never sent a
 * ClientHello) keeps its socket after `close()`: the cancelled handshake still owns the TCP
 * stream until the peer sends something or hangs up (measured: the descriptor stays, the peer
 * sees no FIN). `shutdown(fd, SHUT_RDWR)` on that socket ends the stuck read with EOF, the
 * runtime drops the stream and the descriptor is released. The socket is found among the
 * process's descriptors by its local port and its peer's address and port.
 * @module
 */
import { openLibc } from "../libc.ts";
import { sockAddr, socketFds } from "./socket_info.ts";

const SHUT_RDWR = 2;

function sameAddr(a: Uint8Array | null, b: Uint8Array): boolean {
  if (!a || a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The bytes of an IP address in the form getpeername reports (IPv4-mapped kept as IPv6). */
function addrBytes(host: string, v6: boolean): Uint8Array | null {
  if (!host.includes(":")) {
    const parts = host.split(".").map(Number);
    if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) return null;
    if (!v6) return new Uint8Array(parts);
    return new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...parts]);
  }
  if (!v6) return null;
  const [head, tail = ""] = host.split("::");
  const h = head ? head.split(":") : [];
  const t = host.includes("::") ? (tail ? tail.split(":") : []) : [];
  const words = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  if (words.length !== 8) return null;
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    const v = parseInt(w, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/**
 * Shuts down (both directions) this process's sockets with local port `localPort` connected to
 * any of `remotes`, in one pass over the descriptors (a flood of refused connections costs one
 * scan per batch, not one per connection). Returns how many were shut down, or why none could
 * be (another OS, no FFI).
 */
export function shutdownSockets(
  localPort: number,
  remotes: readonly Deno.NetAddr[],
): number | string {
  if (Deno.build.os !== "linux") return `not supported on ${Deno.build.os}`;
  if (remotes.length === 0) return 0;
  const byPort = new Map<number, Deno.NetAddr[]>();
  for (const r of remotes) byPort.set(r.port, [...(byPort.get(r.port) ?? []), r]);
  let done = 0;
  try {
    const lib = openLibc();
    for (const fd of socketFds()) {
      const local = sockAddr(lib, fd, "getsockname");
      if (!local || local.port !== localPort) continue;
      const peer = sockAddr(lib, fd, "getpeername");
      const candidates = peer && byPort.get(peer.port);
      if (!peer || !candidates) continue;
      const v6 = peer.addr.byteLength === 16;
      if (!candidates.some((r) => sameAddr(addrBytes(r.hostname, v6), peer.addr))) continue;
      if (lib.symbols.shutdown(fd, SHUT_RDWR) === 0) done++;
    }
    return done;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Shuts down the one socket of `localPort` connected to `remote`; null when done, or why not. */
export function shutdownSocket(localPort: number, remote: Deno.NetAddr): string | null {
  const r = shutdownSockets(localPort, [remote]);
  if (typeof r === "string") return r;
  return r === 1 ? null : "socket not found";
}
