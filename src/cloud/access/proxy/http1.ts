/**
 * The browser proxy's HTTP/1.1 client, spoken over a tunnel to a device. Written by hand because
 * the connection is not a socket fetch() can dial: it is a tunnel through the agent (a Deno TLS
 * connection to the agent, optionally wrapped in TLS to an HTTPS camera). It writes a request
 * head, streams a body (fixed length or chunked), reads the response head with every header as
 * sent (repeated Set-Cookie kept apart) and yields the body in its own framing, so a response can
 * be streamed (MJPEG, chunked) without buffering and a connection can be reused when the framing
 * allows it.
 * @module
 */
import { latin1, utf8 } from "../../../shared/encoding.ts";

/** What the client needs of a connection: Deno.Conn has it; node TLS sockets are adapted. */
export interface ByteConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
}

/** A response head as the device sent it. */
export interface ResponseHead {
  status: number;
  reason: string;
  /** [name, value] in order, names as sent. */
  headers: [string, string][];
}

/** Why a device's response could not be read. */
export class DeviceProtocolError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "DeviceProtocolError";
  }
}

const MAX_HEAD = 64 << 10;
const enc = new TextEncoder();

/** A reader that buffers a connection so heads and chunk sizes can be read a line at a time. */
export class BufferedReader {
  #conn: ByteConn;
  #buf = new Uint8Array(64 << 10);
  #start = 0;
  #end = 0;
  #eof = false;

  /** Wraps a connection. */
  constructor(conn: ByteConn) {
    this.#conn = conn;
  }

  /** Bytes received so far that nobody has consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end === this.#buf.length) {
      if (this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      } else {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf);
        this.#buf = bigger;
      }
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** The next line if it is already buffered (without CRLF/LF), else undefined; never waits. */
  lineNow(): string | undefined {
    const i = this.#buf.subarray(this.#start, this.#end).indexOf(10);
    if (i < 0) return undefined;
    const stop = this.#start + i;
    const line = latin1(this.#buf.subarray(this.#start, stop));
    this.#start = stop + 1;
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  }

  /** Exactly `n` bytes if they are already buffered (a fresh copy), else undefined. */
  takeNow(n: number): Uint8Array | undefined {
    if (this.#end - this.#start < n) return undefined;
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Reads one line (without CRLF/LF); null at end of stream before any byte. */
  async readLine(limit = MAX_HEAD): Promise<string | null> {
    for (;;) {
      const line = this.lineNow();
      if (line !== undefined) return line;
      if (this.#end - this.#start > limit) throw new DeviceProtocolError("header line too long");
      if (!(await this.#fill())) {
        if (this.#end === this.#start) return null;
        throw new DeviceProtocolError("connection closed in the middle of a line");
      }
    }
  }

  /** Reads up to `max` bytes (at least one); null at end of stream. Returns a fresh copy. */
  async readSome(max: number): Promise<Uint8Array | null> {
    if (this.#start === this.#end && !(await this.#fill())) return null;
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Exactly `n` bytes, or an error when the stream ends first. */
  async readExactly(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const part = await this.readSome(n - got);
      if (!part) throw new DeviceProtocolError("connection closed before the body ended");
      out.set(part, got);
      got += part.length;
    }
    return out;
  }

  /** Everything left in the buffer (for handing a connection over after an upgrade). */
  drain(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return out;
  }
}

/** Writes all of `data`. */
export async function writeAll(conn: ByteConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Serializes and sends a request head. */
export async function writeRequestHead(
  conn: ByteConn,
  method: string,
  target: string,
  headers: [string, string][],
): Promise<void> {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  await writeAll(conn, utf8(head + "\r\n"));
}

/** Sends a request body from an async source, fixed length or chunked. */
export async function writeBody(
  conn: ByteConn,
  body: AsyncIterable<Uint8Array>,
  chunked: boolean,
): Promise<void> {
  for await (const part of body) {
    if (part.length === 0) continue;
    if (chunked) await writeAll(conn, enc.encode(`${part.length.toString(16)}\r\n`));
    await writeAll(conn, part);
    if (chunked) await writeAll(conn, enc.encode("\r\n"));
  }
  if (chunked) await writeAll(conn, enc.encode("0\r\n\r\n"));
}

const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
/** A header name: an RFC 9110 token. */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What an RFC 9110 field value may not hold: controls other than tab, DEL, past Latin-1. */
const BAD_FIELD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** Reads a response head, skipping interim 1xx responses other than 101. */
export async function readResponseHead(r: BufferedReader): Promise<ResponseHead> {
  for (;;) {
    // A head that arrived whole (nearly always) is read without waiting a turn per line.
    const line = r.lineNow() ?? await r.readLine();
    if (line === null) throw new DeviceProtocolError("device closed the connection");
    const m = STATUS_LINE.exec(line);
    if (!m) throw new DeviceProtocolError("device sent something that is not HTTP");
    const headers: [string, string][] = [];
    let total = line.length;
    for (;;) {
      const h = r.lineNow() ?? await r.readLine();
      if (h === null) throw new DeviceProtocolError("device closed the connection in a head");
      if (h === "") break;
      total += h.length;
      if (total > MAX_HEAD) throw new DeviceProtocolError("response head too large");
      const colon = h.indexOf(":");
      if (colon <= 0) continue; // obs-fold or junk: dropped, never forwarded
      const name = h.slice(0, colon).trim();
      const value = h.slice(colon + 1).trim();
      // A field no browser may be given (a name that is no token; NUL or another control
      // character in the value) is dropped as junk is: passed on, it failed the whole answer.
      if (!FIELD_NAME.test(name) || BAD_FIELD_VALUE.test(value)) continue;
      headers.push([name, value]);
    }
    const status = Number(m[2]);
    if (status >= 100 && status < 200 && status !== 101) continue;
    // A reason phrase no browser may be given goes the same way (the status's own is sent).
    const reason = m[3] ?? "";
    return { status, reason: BAD_FIELD_VALUE.test(reason) ? "" : reason, headers };
  }
}

/** The first value of a header (case-insensitive), or null. */
export function headerValue(headers: [string, string][], name: string): string | null {
  const n = name.toLowerCase();
  for (const [k, v] of headers) if (k.toLowerCase() === n) return v;
  return null;
}

/** How a response body is framed. */
export type Framing =
  | { kind: "none" }
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  | { kind: "close" };

/** Decides the body framing of a response (RFC 9112 §6.3). */
export function responseFraming(method: string, head: ResponseHead): Framing {
  if (method === "HEAD" || head.status === 204 || head.status === 304 || head.status < 200) {
    return { kind: "none" };
  }
  const te = headerValue(head.headers, "transfer-encoding");
  if (te !== null) {
    return te.toLowerCase().split(",").map((s) => s.trim()).at(-1) === "chunked"
      ? { kind: "chunked" }
      : { kind: "close" };
  }
  const lengths = head.headers.filter(([k]) => k.toLowerCase() === "content-length");
  if (lengths.length) {
    const values = new Set(lengths.flatMap(([, v]) => v.split(",").map((s) => s.trim())));
    const [only] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(only)) {
      throw new DeviceProtocolError("device sent an invalid Content-Length");
    }
    return { kind: "length", length: Number(only) };
  }
  return { kind: "close" };
}

/** Yields a response body's bytes (de-chunked); returns normally only at its proper end. */
export async function* readBody(
  r: BufferedReader,
  framing: Framing,
): AsyncGenerator<Uint8Array> {
  if (framing.kind === "none") return;
  if (framing.kind === "length") {
    let left = framing.length;
    while (left > 0) {
      const part = await r.readSome(Math.min(left, 64 << 10));
      if (!part) throw new DeviceProtocolError("connection closed before the body ended");
      left -= part.length;
      yield part;
    }
    return;
  }
  if (framing.kind === "close") {
    for (;;) {
      const part = await r.readSome(64 << 10);
      if (!part) return;
      yield part;
    }
  }
  for (;;) {
    const line = await r.readLine(4096);
    if (line === null) throw new DeviceProtocolError("connection closed inside a chunked body");
    const size = parseInt(line.split(";")[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0 || !/^[0-9a-fA-F]+/.test(line.trim())) {
      throw new DeviceProtocolError("device sent a malformed chunk size");
    }
    if (size === 0) {
      // Trailers, then the blank line.
      for (;;) {
        const t = await r.readLine();
        if (t === null || t === "") return;
      }
    }
    let left = size;
    while (left > 0) {
      const part = await r.readSome(Math.min(left, 64 << 10));
      if (!part) throw new DeviceProtocolError("connection closed inside a chunk");
      left -= part.length;
      yield part;
    }
    const crlf = await r.readLine(2);
    if (crlf !== "") throw new DeviceProtocolError("device sent a malformed chunk");
  }
}

/** Whether the connection may carry another request after this response. */
export function reusable(head: ResponseHead, framing: Framing): boolean {
  if (framing.kind === "close") return false;
  const conn = headerValue(head.headers, "connection")?.toLowerCase() ?? "";
  return !conn.split(",").map((s) => s.trim()).includes("close");
}
