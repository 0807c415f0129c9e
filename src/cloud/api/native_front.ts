/**
 * The cloud's HTTP port, accepted by Deno itself. It reads the request line of each new
 * connection: a WebSocket upgrade to one of the tunnel endpoints is served natively (its head
 * parsed here, the WebSocket framed by `ws_native.ts` on the Deno connection, which reads only
 * when asked: real TCP backpressure, and no `node:http` + `ws` on the tunnel's bytes); a browser
 * proxy request without a body (under `/c/`, or on a device origin: the Host decides, so with
 * device origins every GET's head is read) is answered natively too (`native_http1.ts`), and
 * the connection kept alive for the next request. Every other connection is handed, with the bytes already
 * read, to the `node:http` server as before (the app, requests with bodies, the live view, the
 * terminal), which sees the real peer address. A connection from a trusted balancer may start
 * with a PROXY protocol header (`proxy_protocol.ts`): the client it names is then the peer for
 * every request of the connection, served here or by node:http. Measured in README "Performance".
 * @module
 */
import type { ListenAddress } from "../../shared/cli.ts";
import { deadlinesOf } from "../../shared/deadlines.ts";
import { latin1 } from "../../shared/encoding.ts";
import { acceptLoop } from "../../shared/transport/accept_loop.ts";
import { ProxyHeaderError, readProxyPrefix } from "../access/proxy_protocol.ts";

/** A parsed request head of a connection the front serves itself. */
export interface RequestHead {
  method: string;
  /** The request target as sent. */
  target: string;
  /** The protocol version as sent ("HTTP/1.1", "HTTP/1.0"). */
  version: string;
  /** Header fields in order, names lower-cased. */
  headers: [string, string][];
  /** Names as sent and values, alternating (node:http's `rawHeaders`). */
  rawHeaders: string[];
}

/** What the front does with a connection. */
export interface FrontHandlers {
  /** Whether a request line's target is served natively (read the whole head first). */
  claims(method: string, target: string): boolean;
  /**
   * Serves a claimed request; `rest` holds bytes read after the head, `peer` is the client's
   * address (the socket's, or the one a trusted balancer's PROXY header named). Returns false to
   * hand the connection to node:http instead (with every byte read of this request), true when
   * the connection is taken (upgraded or closed), or the bytes read after this request when the
   * connection is free for the next one (HTTP keep-alive). `watch(onGone)` starts the
   * connection's next read now rather than after the answer, so a client that leaves (or ends its
   * side) while its request is served is seen at once: `onGone` runs when that read finds the
   * connection ended. Its bytes, if any, begin the next request. Only a serve that returns bytes
   * or true may call it (node:http, handed the connection, could not see what it read).
   */
  serve(
    conn: Deno.TcpConn,
    head: RequestHead,
    rest: Uint8Array,
    peer: string,
    watch: (onGone: () => void) => void,
  ): Promise<boolean | Uint8Array> | boolean | Uint8Array;
  /**
   * Hands the connection to node:http with the bytes already read; `peer` as for `serve`;
   * `ahead`, a read under way (see `watch`), whose bytes follow `read` (null: the connection ended).
   */
  handOff(
    conn: Deno.TcpConn,
    read: Uint8Array,
    peer: string,
    ahead?: Promise<Uint8Array | null>,
  ): void;
  /**
   * Whether a connection from `addr` may start with a PROXY protocol header (a peer in
   * `--trusted-proxies`); none is read when this is absent.
   */
  trustsProxyHeader?(addr: string): boolean;
  /** A trusted peer's PROXY header that is not one: the connection is closed without an answer. */
  badProxyHeader?(addr: string, message: string): void;
  /** A request head the front refuses (too large, malformed): status and message. */
  refuse(conn: Deno.TcpConn, status: number, message: string): void;
  /** Logs a fault of one connection (never ends the listener). */
  fault(e: unknown): void;
}

/** Longest request line looked at before a connection is handed on as it is. */
const MAX_LINE = 8 << 10;
/** Longest head of a claimed request (node:http's limit: 431 beyond). */
const MAX_HEAD = 16 << 10;
/**
 * The request line (and a claimed request's whole head) must arrive within this: node:http's
 * own headersTimeout, which takes over once a connection is handed on.
 */
const HEAD_TIMEOUT_MS = 60_000;
/** How long a kept-alive connection may stay silent between requests (node:http's default). */
const KEEP_ALIVE_MS = 5_000;
/** The most one read ahead (`FrontHandlers.serve`'s `watch`) takes: a request head, or its start. */
const AHEAD_BYTES = 4 << 10;

const CRLF = [13, 10];

/** Where `seq` (starting with CR) first occurs in `buf[from, end)`; the CR search is native. */
function indexOf(buf: Uint8Array, end: number, seq: number[], from = 0): number {
  const view = buf.subarray(0, end);
  outer: for (let i = view.indexOf(seq[0], from); i >= 0; i = view.indexOf(seq[0], i + 1)) {
    if (i + seq.length > end) return -1;
    for (let j = 1; j < seq.length; j++) if (buf[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

/**
 * Parses header lines; null when one is malformed (no colon, folded, bad name). `raw`, when
 * given, receives the names as sent and the values, alternating.
 */
export function parseHeaderLines(text: string, raw?: string[]): [string, string][] | null {
  const out: [string, string][] = [];
  if (text === "") return out;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0 || line[0] === " " || line[0] === "\t") return null;
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return null;
    const value = line.slice(colon + 1).trim();
    out.push([name.toLowerCase(), value]);
    raw?.push(name, value);
  }
  return out;
}

/**
 * Reads each request line of one connection (and the head when claimed) and routes it, request
 * after request while the natively served ones leave the connection free.
 */
async function route(conn: Deno.TcpConn, h: FrontHandlers): Promise<void> {
  // A tunnel upgrade's head (a bearer token, a few fields) fits; a browser's grows it once or twice.
  let buf = new Uint8Array(1024);
  let end = 0;
  let waiting = false;
  let cancel: (() => void) | undefined;
  const arm = (ms: number) => {
    cancel?.();
    cancel = deadlinesOf(ms).start(() => {
      try {
        conn.close();
      } catch { /* closed */ }
    });
  };
  arm(HEAD_TIMEOUT_MS);
  let peer = conn.remoteAddr.hostname;
  // The read begun while a request was served (`watch`): the next read, whatever it brings.
  // Requests that arrived together are served before it returns; the last one's `onGone` counts.
  let ahead: Promise<number | null> | undefined;
  let onAheadGone: (() => void) | undefined;
  // Made on the first watch: a tunnel upgrade's connection never needs it.
  let aheadBuf = new Uint8Array(0);
  const watch = (onGone: () => void) => {
    onAheadGone = onGone;
    if (ahead) return;
    if (aheadBuf.byteLength === 0) aheadBuf = new Uint8Array(AHEAD_BYTES);
    ahead = conn.read(aheadBuf).catch(() => null);
    ahead.then((n) => {
      if (n === null) onAheadGone?.();
    });
  };
  const takeAhead = () => {
    const taken = ahead;
    ahead = onAheadGone = undefined;
    return taken;
  };
  const handOff = () => {
    const early = takeAhead()?.then((n) => n === null ? null : aheadBuf.slice(0, n));
    return h.handOff(conn, buf.slice(0, end), peer, early);
  };
  try {
    if (h.trustsProxyHeader?.(peer)) {
      // A balancer's header names the client; what it sent after the header starts the request.
      let named;
      try {
        named = await readProxyPrefix(conn);
      } catch (e) {
        if (!(e instanceof ProxyHeaderError)) throw e;
        h.badProxyHeader?.(peer, e.message);
        try {
          conn.close();
        } catch { /* closed */ }
        return;
      }
      if (named.client) peer = named.client;
      if (named.rest.byteLength > buf.byteLength) buf = new Uint8Array(named.rest.byteLength * 2);
      buf.set(named.rest);
      end = named.rest.byteLength;
    }
    const more = async (): Promise<boolean> => {
      if (end === buf.byteLength) {
        const bigger = new Uint8Array(buf.byteLength * 2);
        bigger.set(buf);
        buf = bigger;
      }
      let n: number | null;
      const early = takeAhead();
      if (early) {
        n = await early;
        if (n !== null) {
          if (end + n > buf.byteLength) {
            const bigger = new Uint8Array(Math.max(buf.byteLength * 2, end + n));
            bigger.set(buf.subarray(0, end));
            buf = bigger;
          }
          buf.set(aheadBuf.subarray(0, n), end);
        }
      } else {
        try {
          n = await conn.read(buf.subarray(end));
        } catch (e) {
          // A kept-alive connection closed by its idle timer or by the peer: nothing to report.
          if (waiting) return false;
          throw e;
        }
      }
      if (n === null) return false;
      if (waiting) {
        // The next request began: it has the head's whole time, as the first did.
        waiting = false;
        arm(HEAD_TIMEOUT_MS);
      }
      end += n;
      return true;
    };
    const closeQuietly = () => {
      try {
        conn.close();
      } catch { /* closed */ }
    };
    for (;;) {
      let lineEnd = -1;
      while ((lineEnd = indexOf(buf, end, CRLF)) < 0) {
        if (end >= MAX_LINE) return handOff();
        if (!(await more())) {
          // A kept-alive connection that ends between requests is simply over.
          if (waiting) return closeQuietly();
          return handOff();
        }
      }
      const line = latin1(buf.subarray(0, lineEnd));
      const parts = line.split(" ");
      if (parts.length !== 3 || !parts[2].startsWith("HTTP/1.") || !h.claims(parts[0], parts[1])) {
        return handOff();
      }
      let headEnd = -1;
      while ((headEnd = indexOf(buf, end, [...CRLF, ...CRLF], Math.max(0, lineEnd - 2))) < 0) {
        if (end >= MAX_HEAD) return h.refuse(conn, 431, "request header fields too large");
        if (!(await more())) return closeQuietly();
      }
      if (headEnd + 4 > MAX_HEAD) return h.refuse(conn, 431, "request header fields too large");
      cancel?.();
      cancel = undefined;
      const rawHeaders: string[] = [];
      const fields = headEnd > lineEnd
        ? parseHeaderLines(latin1(buf.subarray(lineEnd + 2, headEnd)), rawHeaders)
        : [];
      if (!fields) return h.refuse(conn, 400, "malformed HTTP request");
      const head: RequestHead = {
        method: parts[0],
        target: parts[1],
        version: parts[2],
        headers: fields,
        rawHeaders,
      };
      const served = await h.serve(conn, head, buf.slice(headEnd + 4, end), peer, watch);
      if (served === false) return handOff();
      if (served === true) return;
      // Kept alive: what was read after the request starts the next one, in the same buffer.
      if (served.byteLength > buf.byteLength) buf = new Uint8Array(served.byteLength * 2);
      buf.set(served);
      end = served.byteLength;
      waiting = end === 0;
      arm(waiting ? KEEP_ALIVE_MS : HEAD_TIMEOUT_MS);
    }
  } finally {
    cancel?.();
  }
}

/** A running front listener. */
export interface Front {
  port: number;
  close(): void;
}

/** Accepts on `listen` and routes every connection (see the module comment). */
export function startFront(listen: ListenAddress, h: FrontHandlers): Front {
  const l = Deno.listen({ hostname: listen.hostname, port: listen.port });
  // Connections the front still reads or serves (kept-alive ones included): closed with it.
  const routing = new Set<Deno.TcpConn>();
  // Out of descriptors and the like: keep accepting once the moment passes.
  acceptLoop(l, (conn) => {
    try {
      conn.setNoDelay(true);
    } catch { /* closed already */ }
    routing.add(conn);
    route(conn, h).catch((e) => {
      h.fault(e);
      try {
        conn.close();
      } catch { /* closed */ }
    }).finally(() => routing.delete(conn));
  }, (e) => h.fault(e));
  return {
    port: (l.addr as Deno.NetAddr).port,
    close: () => {
      try {
        l.close();
      } catch { /* closed */ }
      for (const conn of routing) {
        try {
          conn.close();
        } catch { /* closed */ }
      }
      routing.clear();
    },
  };
}
