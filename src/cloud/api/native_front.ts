/**
 * The cloud's HTTP port, accepted by Deno itself. It reads the request line of each new
 * connection: a WebSocket upgrade to one of the tunnel endpoints is served natively (its head
 * parsed here, the WebSocket framed by `ws_native.ts` on the Deno connection, which reads only
 * when asked: real TCP backpressure, and no `node:http` + `ws` on the tunnel's bytes); every other
 * connection is handed, with the bytes already read, to the `node:http` server as before (the
 * app, the browser proxy, the live view, the terminal), which sees the real peer address.
 * Measured in README "Performance".
 * @module
 */
import type { ListenAddress } from "../../shared/cli.ts";

/** A parsed request head of a connection the front serves itself. */
export interface RequestHead {
  method: string;
  /** The request target as sent. */
  target: string;
  /** Header fields in order, names lower-cased. */
  headers: [string, string][];
}

/** What the front does with a connection. */
export interface FrontHandlers {
  /** Whether a request line's target is served natively (read the whole head first). */
  claims(method: string, target: string): boolean;
  /**
   * Serves a claimed request; `rest` holds bytes read after the head. Returns false to hand the
   * connection to node:http instead (`raw`: every byte read so far).
   */
  serve(conn: Deno.TcpConn, head: RequestHead, rest: Uint8Array): Promise<boolean> | boolean;
  /** Hands the connection to node:http with the bytes already read. */
  handOff(conn: Deno.TcpConn, read: Uint8Array): void;
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

const CRLF = [13, 10];

function indexOf(buf: Uint8Array, end: number, seq: number[], from = 0): number {
  outer: for (let i = from; i + seq.length <= end; i++) {
    for (let j = 0; j < seq.length; j++) if (buf[i + j] !== seq[j]) continue outer;
    return i;
  }
  return -1;
}

/** Parses header lines; null when one is malformed (no colon, folded, bad name). */
export function parseHeaderLines(text: string): [string, string][] | null {
  const out: [string, string][] = [];
  if (text === "") return out;
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0 || line[0] === " " || line[0] === "\t") return null;
    const name = line.slice(0, colon);
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) return null;
    out.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

/** Reads one connection's request line (and head when claimed) and routes it. */
async function route(conn: Deno.TcpConn, h: FrontHandlers): Promise<void> {
  // A tunnel upgrade's head (a bearer token, a few fields) fits; a browser's grows it once or twice.
  let buf = new Uint8Array(1024);
  let end = 0;
  const timer = setTimeout(() => {
    try {
      conn.close();
    } catch { /* closed */ }
  }, HEAD_TIMEOUT_MS);
  try {
    const more = async (): Promise<boolean> => {
      if (end === buf.byteLength) {
        const bigger = new Uint8Array(buf.byteLength * 2);
        bigger.set(buf);
        buf = bigger;
      }
      const n = await conn.read(buf.subarray(end));
      if (n === null) return false;
      end += n;
      return true;
    };
    let lineEnd = -1;
    while ((lineEnd = indexOf(buf, end, CRLF)) < 0) {
      if (end >= MAX_LINE) return h.handOff(conn, buf.slice(0, end));
      if (!(await more())) return h.handOff(conn, buf.slice(0, end));
    }
    const line = new TextDecoder().decode(buf.subarray(0, lineEnd));
    const parts = line.split(" ");
    if (parts.length !== 3 || !parts[2].startsWith("HTTP/1.") || !h.claims(parts[0], parts[1])) {
      return h.handOff(conn, buf.slice(0, end));
    }
    let headEnd = -1;
    while ((headEnd = indexOf(buf, end, [...CRLF, ...CRLF], Math.max(0, lineEnd - 2))) < 0) {
      if (end >= MAX_HEAD) return h.refuse(conn, 431, "request header fields too large");
      if (!(await more())) {
        try {
          conn.close();
        } catch { /* closed */ }
        return;
      }
    }
    if (headEnd + 4 > MAX_HEAD) return h.refuse(conn, 431, "request header fields too large");
    clearTimeout(timer);
    const fields = headEnd > lineEnd
      ? parseHeaderLines(new TextDecoder().decode(buf.subarray(lineEnd + 2, headEnd)))
      : [];
    if (!fields) return h.refuse(conn, 400, "malformed HTTP request");
    const head: RequestHead = { method: parts[0], target: parts[1], headers: fields };
    const served = await h.serve(conn, head, buf.slice(headEnd + 4, end));
    if (!served) h.handOff(conn, buf.slice(0, end));
  } finally {
    clearTimeout(timer);
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
  (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await l.accept();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource || e instanceof Deno.errors.Interrupted) return;
        // Out of descriptors and the like: keep accepting once the moment passes.
        h.fault(e);
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      try {
        conn.setNoDelay(true);
      } catch { /* closed already */ }
      route(conn, h).catch((e) => {
        h.fault(e);
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })();
  return {
    port: (l.addr as Deno.NetAddr).port,
    close: () => {
      try {
        l.close();
      } catch { /* closed */ }
    },
  };
}
