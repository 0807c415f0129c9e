/**
 * One HTTP/1.1 exchange on a connection the native front reads, for the browser proxy's hot path:
 * a `/c/{h}/` request without a body (what a camera UI loads: pages, scripts, snapshots, MJPEG).
 * The request is the head the front parsed; the response is written straight to the Deno
 * connection, head and a small body in one write, a stream chunked and written as it comes (the
 * writer waits for "drain", so a stalled browser stalls the device). node:http + `socketOf` cost
 * 20–30 µs per request here (README "Performance"); everything else — bodies, upgrades, other
 * paths — stays with node:http, which the front hands the connection to at a request boundary.
 * @module
 */
import { STATUS_CODES } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { HeaderValues, ProxyRequest, ProxyResponse } from "../access/proxy/browser_io.ts";
import { latin1Bytes } from "../../shared/encoding.ts";
import { listHas } from "./header_list.ts";

/** Fields node:http keeps only the first of when repeated. */
const FIRST_ONLY = new Set([
  "age",
  "authorization",
  "content-length",
  "content-type",
  "etag",
  "expires",
  "from",
  "host",
  "if-modified-since",
  "if-unmodified-since",
  "last-modified",
  "location",
  "max-forwards",
  "proxy-authorization",
  "referer",
  "retry-after",
  "server",
  "user-agent",
]);

/** Header fields as node:http presents them: the first, an array, or the values joined. */
export function nodeHeaders(fields: [string, string][]): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [k, v] of fields) {
    const had = out[k];
    if (had === undefined) out[k] = k === "set-cookie" ? [v] : v;
    else if (k === "set-cookie") (had as string[]).push(v);
    else if (FIRST_ONLY.has(k)) continue;
    else out[k] = `${had}${k === "cookie" ? "; " : ", "}${v}`;
  }
  return out;
}

/** A bodiless request the front parsed, shaped as the proxy reads it. */
export class Http1Request implements ProxyRequest {
  /** The method as sent. */
  readonly method: string;
  /** The raw request target. */
  readonly url: string;
  /** Fields by lower-cased name (see `nodeHeaders`). */
  readonly headers: IncomingHttpHeaders;
  /** Names as sent and values, alternating. */
  readonly rawHeaders: string[];
  /** The peer. The front's port is plain TCP (TLS ends in front of it, if anywhere). */
  readonly socket: { remoteAddress: string; encrypted: boolean };
  /** Whether the connection is gone (set by the response). */
  destroyed = false;
  /** The client aborted (never known before a write fails; logging only). */
  aborted = false;

  constructor(
    head: { method: string; target: string; headers: [string, string][]; rawHeaders: string[] },
    remoteAddress: string,
  ) {
    this.method = head.method;
    this.url = head.target;
    this.headers = nodeHeaders(head.headers);
    this.rawHeaders = head.rawHeaders;
    this.socket = { remoteAddress, encrypted: false };
  }

  /** No body: the front serves only requests without one. */
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
}

/** Written bytes the response holds before `write` asks its writer to wait for "drain". */
const HIGH_WATER = 64 << 10;
/** Queued pieces up to this size are joined into one write (a write per piece is a syscall). */
const JOIN_MAX = 256 << 10;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What node:http refuses in a header value (`ERR_INVALID_CHAR`); heads are written as Latin-1. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

let dateSecond = 0;
let dateValue = "";
/** The Date header, formatted once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/**
 * A response written to the connection as node:http would write it: the head fixed by
 * `writeHead` (or the first write), a body with its Content-Length, chunked, or none (HEAD, 204,
 * 304). `done` says, once the response is out, whether the connection may carry another request.
 */
export class Http1Response implements ProxyResponse {
  #conn: Deno.Conn;
  #req: Http1Request;
  #keepAlive: boolean;
  #http10: boolean;
  #headers = new Map<string, [string, string | string[]]>();
  #status = 200;
  #headBytes: Uint8Array | null = null;
  #chunked = false;
  #bodyless: boolean;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #pumping = false;
  #needDrain = false;
  #ended = false;
  #destroyed = false;
  #listeners = { drain: new Set<() => void>(), close: new Set<() => void>() };
  #settle!: (reusable: boolean) => void;
  /** Whether the head is fixed. */
  headersSent = false;
  /** Whether every byte of the response was written to the connection. */
  writableFinished = false;
  /** Resolves once the response is out (true: the connection may carry another request). */
  readonly done: Promise<boolean>;

  /**
   * `keepAlive`: the request lets the connection carry another (HTTP/1.1 without
   * `Connection: close`, HTTP/1.0 with `Connection: keep-alive`); `http10`: the client speaks
   * HTTP/1.0, so a body without a length is ended by closing, never chunked.
   */
  constructor(
    conn: Deno.Conn,
    req: Http1Request,
    opts: { keepAlive: boolean; http10?: boolean },
  ) {
    this.#http10 = opts.http10 ?? false;
    this.#conn = conn;
    this.#req = req;
    this.#keepAlive = opts.keepAlive;
    this.#bodyless = req.method === "HEAD";
    this.done = new Promise((r) => this.#settle = r);
  }

  /** Whether `end` or `destroy` was called (the proxy answered somehow). */
  get answered(): boolean {
    return this.#ended || this.#destroyed;
  }

  setHeader(name: string, value: string | number | string[]): this {
    if (this.headersSent) throw new Error("headers already sent");
    if (!TOKEN.test(name)) throw new TypeError(`invalid header name "${name}"`);
    const v = Array.isArray(value) ? value.map(String) : String(value);
    for (const x of Array.isArray(v) ? v : [v]) {
      if (BAD_VALUE.test(x)) throw new TypeError(`invalid character in header "${name}"`);
    }
    this.#headers.set(name.toLowerCase(), [name, v]);
    return this;
  }

  writeHead(status: number, a?: string | HeaderValues, b?: HeaderValues): this {
    this.#checkHead(status, typeof a === "string" ? a : undefined);
    for (const [k, v] of Object.entries((typeof a === "string" ? b : a) ?? {})) {
      this.setHeader(k, v);
    }
    this.#status = status;
    this.#fixHead(typeof a === "string" ? a : undefined);
    return this;
  }

  /**
   * The same with the fields as pairs in order (repeated names kept apart): the proxy's device
   * response, written without grouping it into a header map first.
   */
  writeHeadPairs(status: number, reason: string, pairs: [string, string][]): void {
    this.#checkHead(status, reason || undefined);
    for (const [k, v] of pairs) {
      if (!TOKEN.test(k)) throw new TypeError(`invalid header name "${k}"`);
      if (BAD_VALUE.test(v)) throw new TypeError(`invalid character in header "${k}"`);
    }
    this.#status = status;
    this.#fixHead(reason || undefined, undefined, pairs);
  }

  #checkHead(status: number, reason: string | undefined): void {
    if (this.headersSent) throw new Error("headers already sent");
    if (!Number.isInteger(status) || status < 100 || status > 999) {
      throw new RangeError(`invalid status code ${status}`);
    }
    if (reason !== undefined && BAD_VALUE.test(reason)) {
      throw new TypeError("invalid character in the reason phrase");
    }
  }

  /**
   * Serializes the head (the fields set, then `pairs`) and decides the body's framing as
   * node:http does: a Content-Length, else chunked, else none for HEAD, 204, 304 and 1xx; a
   * Content-Length for a body given whole to `end` before any head.
   */
  #fixHead(reason?: string, endLength?: number, pairs?: [string, string][]): void {
    const s = this.#status;
    if (s === 204 || s === 304 || s < 200) this.#bodyless = true;
    let text = `HTTP/1.1 ${s} ${reason ?? STATUS_CODES[s] ?? "Unknown"}\r\n`;
    let length = false;
    let te: string | null = null;
    let date = false;
    let close = false;
    const field = (name: string, value: string) => {
      const k = name.toLowerCase();
      if (k === "content-length") length = true;
      else if (k === "transfer-encoding") te = value;
      else if (k === "date") date = true;
      else if (k === "connection" && listHas(value, "close")) close = true;
      text += `${name}: ${value}\r\n`;
    };
    for (const [name, v] of this.#headers.values()) {
      if (Array.isArray(v)) { for (const x of v) field(name, x); }
      else field(name, v);
    }
    if (pairs) { for (const [name, v] of pairs) field(name, v); }
    if (endLength !== undefined && !length && te === null) {
      if (!this.#bodyless || this.#req.method === "HEAD") {
        text += `Content-Length: ${endLength}\r\n`;
        length = true;
      }
    }
    if (te !== null) this.#chunked = !this.#http10 && /chunked/i.test(te);
    else if (!length && !this.#bodyless) {
      if (this.#http10) this.#keepAlive = false; // an HTTP/1.0 body without a length ends at close
      else {
        this.#chunked = true;
        text += "Transfer-Encoding: chunked\r\n";
      }
    }
    if (close) this.#keepAlive = false;
    else if (!this.#keepAlive) text += "Connection: close\r\n";
    else if (this.#http10) text += "Connection: keep-alive\r\n";
    if (!date) text += `Date: ${httpDate()}\r\n`;
    this.#headBytes = latin1Bytes(text + "\r\n");
    this.headersSent = true;
  }

  /** Queues the head once. */
  #queueHead(): void {
    if (this.#headBytes) {
      this.#push(this.#headBytes);
      this.#headBytes = null;
    }
  }

  #push(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.#queue.push(bytes);
    this.#queued += bytes.byteLength;
  }

  #body(chunk: Uint8Array): void {
    if (this.#bodyless || chunk.byteLength === 0) return;
    if (this.#chunked) {
      this.#push(encoder.encode(`${chunk.byteLength.toString(16)}\r\n`));
      this.#push(chunk);
      this.#push(CRLF);
    } else this.#push(chunk);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#destroyed || this.#ended) return false;
    if (!this.headersSent) this.#fixHead();
    this.#queueHead();
    this.#body(chunk);
    this.#pump();
    if (this.#queued < HIGH_WATER) return true;
    this.#needDrain = true;
    return false;
  }

  end(chunk?: Uint8Array | string): this {
    if (this.#destroyed || this.#ended) return this;
    const bytes = typeof chunk === "string" ? encoder.encode(chunk) : chunk;
    if (!this.headersSent) this.#fixHead(undefined, bytes?.byteLength ?? 0);
    this.#queueHead();
    if (bytes) this.#body(bytes);
    if (this.#chunked && !this.#bodyless) this.#push(LAST_CHUNK);
    this.#ended = true;
    this.#pump();
    return this;
  }

  flushHeaders(): void {
    if (this.#destroyed) return;
    if (!this.headersSent) this.#fixHead();
    this.#queueHead();
    this.#pump();
  }

  destroy(_error?: Error): this {
    if (this.#destroyed) return this;
    this.#destroyed = true;
    this.#req.destroyed = true;
    this.#queue = [];
    this.#queued = 0;
    try {
      this.#conn.close();
    } catch { /* closed */ }
    this.#emit("close");
    this.#settle(false);
    return this;
  }

  on(event: "drain" | "close", listener: () => void): this {
    this.#listeners[event].add(listener);
    return this;
  }

  off(event: "drain" | "close", listener: () => void): this {
    this.#listeners[event].delete(listener);
    return this;
  }

  #emit(event: "drain" | "close"): void {
    for (const l of [...this.#listeners[event]]) l();
  }

  /** Writes what is queued, in order, pieces joined where small; one pump at a time. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    // A microtask later, so a head and its body queued in one turn leave in one write.
    queueMicrotask(() => {
      this.#drainQueue().catch(() => {
        this.#req.aborted = true;
        this.destroy();
      });
    });
  }

  async #drainQueue(): Promise<void> {
    try {
      while (this.#queue.length && !this.#destroyed) {
        let bytes: Uint8Array;
        let pieces = 1;
        if (this.#queue.length > 1 && this.#queued <= JOIN_MAX) {
          bytes = new Uint8Array(this.#queued);
          let off = 0;
          for (const p of this.#queue) {
            bytes.set(p, off);
            off += p.byteLength;
          }
          pieces = this.#queue.length;
        } else bytes = this.#queue[0];
        let off = 0;
        while (off < bytes.byteLength) off += await this.#conn.write(bytes.subarray(off));
        this.#queue.splice(0, pieces);
        this.#queued -= bytes.byteLength;
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#destroyed) return;
    if (this.#needDrain && this.#queued < HIGH_WATER) {
      this.#needDrain = false;
      this.#emit("drain");
    }
    if (this.#ended && this.#queue.length === 0) {
      this.writableFinished = true;
      this.#emit("close");
      if (this.#keepAlive) this.#settle(true);
      else this.#closeGracefully();
    }
  }

  /** Ends a connection that carries no more requests: FIN first, so the last bytes are read. */
  #closeGracefully(): void {
    this.#destroyed = true;
    const conn = this.#conn;
    (async () => {
      try {
        await (conn as Deno.TcpConn).closeWrite();
        // Unread input at close would reset the connection under the client's last read.
        await new Promise((r) => setTimeout(r, 200));
      } catch { /* gone */ }
      try {
        conn.close();
      } catch { /* closed */ }
    })();
    this.#settle(false);
  }
}
