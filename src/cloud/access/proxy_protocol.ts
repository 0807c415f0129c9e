/**
 * The PROXY protocol (HAProxy's, versions 1 and 2) on the RTSP gateway's and the HTTP port's TCP
 * listeners. A TCP load balancer in front of them hides the clients' addresses: every connection
 * comes from the balancer, so refusals were audited and sampled per balancer, the sign-in limits
 * counted every client as one, and a partner key pinned to a network could not be checked. A
 * balancer configured to send a PROXY header (`send-proxy` or `send-proxy-v2` in HAProxy; NGINX
 * `proxy_protocol on`; a TCP or TLS listener of most cloud balancers) names the client in its
 * first bytes. The header is believed only from a peer in `--trusted-proxies`, and only when there
 * is one (neither RTSP nor HTTP starts with `PROXY ` or v2's signature), so one setting serves
 * balancers that send it and proxies that do not.
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 * @module
 */
import { isIP } from "node:net";
import type { ByteStream } from "../../shared/transport/byte_stream.ts";

const V1_PREFIX = new TextEncoder().encode("PROXY ");
/** The first 12 bytes of every version 2 header. */
export const V2_SIGNATURE = new TextEncoder().encode("\r\n\r\n\0\r\nQUIT\n");
/** A v1 line is at most 107 bytes, CRLF included. */
const V1_MAX = 107;
/** A v2 header's own length field allows 64 KiB; addresses and the TLVs balancers add fit in 4. */
const V2_MAX_BODY = 4096;

/** A header that starts as a PROXY header and is not one. */
export class ProxyHeaderError extends Error {}

/** What the first bytes of a connection from a trusted proxy said. */
export interface ProxyHeader {
  /**
   * The client the proxy names; null when there was no header, or it names none (v1 `UNKNOWN`,
   * v2 `LOCAL`: the balancer's own health check), so the socket's address stands.
   */
  client: string | null;
  /** The connection's bytes after the header (those read past it come first). */
  stream: ByteStream;
}

function startsWith(buf: Uint8Array, prefix: Uint8Array): boolean | null {
  const n = Math.min(buf.length, prefix.length);
  for (let i = 0; i < n; i++) if (buf[i] !== prefix[i]) return false;
  return n === prefix.length ? true : null; // null: too few bytes to tell yet
}

/** What the first bytes of a connection from a trusted proxy said, and what came after them. */
export interface ProxyPrefix {
  /** As {@linkcode ProxyHeader}'s `client`. */
  client: string | null;
  /** The bytes read past the header (or all bytes read, when there was none). */
  rest: Uint8Array;
}

/**
 * Reads a PROXY header (v1 or v2) at the start of `conn`, if there is one. Throws
 * {@linkcode ProxyHeaderError} for a malformed header or one that names an address that is not
 * an IP address; the caller closes the connection (with no answer: the peer is a balancer).
 */
export async function readProxyHeader(conn: ByteStream): Promise<ProxyHeader> {
  const { client, rest } = await readProxyPrefix(conn);
  return { client, stream: prefixed(conn, rest) };
}

/**
 * As {@linkcode readProxyHeader}, for a caller that reads the connection itself: the bytes read
 * past the header are handed back instead of put in front of the stream.
 */
export async function readProxyPrefix(
  conn: Pick<ByteStream, "read">,
): Promise<ProxyPrefix> {
  let buf = new Uint8Array(0);
  const more = async (): Promise<boolean> => {
    const chunk = new Uint8Array(512);
    const n = await conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
    return true;
  };
  const plain = (): ProxyPrefix => ({ client: null, rest: buf });
  for (;;) {
    const v1 = startsWith(buf, V1_PREFIX);
    const v2 = startsWith(buf, V2_SIGNATURE);
    if (v1 === false && v2 === false) return plain();
    if (v1 === true) return await readV1();
    if (v2 === true) return await readV2();
    if (!await more()) return plain();
  }

  async function readV1(): Promise<ProxyPrefix> {
    let end: number;
    while ((end = indexOfCrlf(buf)) < 0) {
      if (buf.length >= V1_MAX) throw new ProxyHeaderError("a PROXY line longer than 107 bytes");
      if (!await more()) throw new ProxyHeaderError("the connection ended inside a PROXY line");
    }
    if (end + 2 > V1_MAX) throw new ProxyHeaderError("a PROXY line longer than 107 bytes");
    const line = new TextDecoder().decode(buf.subarray(0, end));
    const rest = buf.subarray(end + 2);
    const f = line.split(" ");
    if (f[1] === "UNKNOWN") return { client: null, rest };
    const family = f[1] === "TCP4" ? 4 : f[1] === "TCP6" ? 6 : 0;
    const port = (s: string | undefined) => /^\d{1,5}$/.test(s ?? "") && Number(s) <= 65_535;
    if (
      f.length !== 6 || !family || isIP(f[2]) !== family || isIP(f[3]) !== family ||
      !port(f[4]) || !port(f[5])
    ) {
      throw new ProxyHeaderError(`a malformed PROXY line: ${JSON.stringify(line.slice(0, 107))}`);
    }
    return { client: family === 6 ? canonicalIpv6(f[2]) : f[2], rest };
  }

  async function readV2(): Promise<ProxyPrefix> {
    while (buf.length < 16) {
      if (!await more()) throw new ProxyHeaderError("the connection ended inside a PROXY header");
    }
    const view = new DataView(buf.buffer, buf.byteOffset);
    const verCmd = buf[12];
    const family = buf[13];
    const len = view.getUint16(14);
    if (verCmd >> 4 !== 2) throw new ProxyHeaderError(`PROXY header version ${verCmd >> 4}`);
    if (len > V2_MAX_BODY) throw new ProxyHeaderError(`a PROXY header of ${len} bytes`);
    while (buf.length < 16 + len) {
      if (!await more()) throw new ProxyHeaderError("the connection ended inside a PROXY header");
    }
    const rest = buf.subarray(16 + len);
    const command = verCmd & 0x0f;
    if (command === 0) return { client: null, rest }; // LOCAL
    if (command !== 1) throw new ProxyHeaderError(`PROXY header command ${command}`);
    const body = buf.subarray(16, 16 + len);
    // TCP or UDP over IPv4 (0x11, 0x12) or IPv6 (0x21, 0x22); UNSPEC and UNIX name no IP client.
    if ((family === 0x11 || family === 0x12) && len >= 12) {
      return { client: Array.from(body.subarray(0, 4)).join("."), rest };
    }
    if ((family === 0x21 || family === 0x22) && len >= 36) {
      const v = new DataView(body.buffer, body.byteOffset);
      const groups = Array.from({ length: 8 }, (_, i) => v.getUint16(i * 2).toString(16));
      return { client: canonicalIpv6(groups.join(":")), rest };
    }
    if (family >> 4 === 0 || family >> 4 === 3) {
      return { client: null, rest };
    }
    throw new ProxyHeaderError(
      `a PROXY header for family 0x${family.toString(16)} of ${len} bytes`,
    );
  }
}

/**
 * An IPv6 address as sockets and audit rows write it (RFC 5952: "2001:db8::7", not
 * "2001:0db8:0:0:0:0:0:7"); the URL parser is the WHATWG standard's own serializer.
 */
function canonicalIpv6(addr: string): string {
  return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
}

function indexOfCrlf(buf: Uint8Array): number {
  for (let i = 0; i + 1 < buf.length; i++) if (buf[i] === 13 && buf[i + 1] === 10) return i;
  return -1;
}

/** `conn` with `head` in front of what it reads next (writes and closes go straight to it). */
function prefixed(conn: ByteStream, head: Uint8Array): ByteStream {
  if (!head.length) return conn;
  let left: Uint8Array = head;
  return {
    read(p) {
      if (!left.length) return conn.read(p);
      const n = Math.min(p.length, left.length);
      p.set(left.subarray(0, n));
      left = left.subarray(n);
      return Promise.resolve(n);
    },
    write: (p) => conn.write(p),
    closeWrite: () => conn.closeWrite(),
    close: () => conn.close(),
  };
}
