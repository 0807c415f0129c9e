/**
 * RTSP/1.0 framing on a TCP stream (RFC 2326 §4, §10.12): text messages (a request or status
 * line, headers, an optional body of Content-Length bytes) interleaved with binary frames
 * `$ channel length(16) data`. The parser is incremental and strict where it matters for a
 * gateway (bounded header block and body, one Content-Length, a known version) and never
 * throws: malformed input is a value the caller answers with 400 and a close.
 * @module
 */

/** Bound on the header block (start line + headers). */
export const MAX_HEADER_BYTES = 16 << 10;
/** Bound on a message body (SDP, parameters). */
export const MAX_BODY_BYTES = 1 << 20;
/** Bound on the number of header lines. */
export const MAX_HEADERS = 100;

/** One RTSP message. Header names keep their spelling; lookups ignore case. */
export interface RtspMessage {
  /** For a request: method and URI; for a response: status and reason. */
  start:
    | { kind: "request"; method: string; uri: string }
    | { kind: "response"; status: number; reason: string };
  headers: [string, string][];
  body: Uint8Array;
}

/** What the parser found at the start of a buffer. */
export type Parsed =
  | { kind: "more" }
  | { kind: "frame"; channel: number; size: number }
  | { kind: "message"; message: RtspMessage; size: number }
  | { kind: "error"; reason: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const dec = new TextDecoder("latin1");

/** The end of the header block (index after the blank line), or -1. */
function headerEnd(buf: Uint8Array, limit: number): number {
  for (let i = 0; i < limit; i++) {
    if (buf[i] !== 0x0a) continue;
    if (buf[i + 1] === 0x0a) return i + 2;
    if (buf[i + 1] === 0x0d && buf[i + 2] === 0x0a) return i + 3;
  }
  return -1;
}

/**
 * Parses what starts at `buf[0]`: an interleaved frame header (the caller forwards `size` bytes
 * as they come), a complete message, "more" when incomplete, or an error.
 */
export function parseNext(buf: Uint8Array): Parsed {
  if (buf.length === 0) return { kind: "more" };
  if (buf[0] === 0x24) {
    if (buf.length < 4) return { kind: "more" };
    return { kind: "frame", channel: buf[1], size: 4 + ((buf[2] << 8) | buf[3]) };
  }
  const limit = Math.min(buf.length, MAX_HEADER_BYTES);
  const end = headerEnd(buf, limit);
  if (end < 0) {
    return buf.length >= MAX_HEADER_BYTES
      ? { kind: "error", reason: "header block too large" }
      : { kind: "more" };
  }
  const lines = dec.decode(buf.subarray(0, end)).split(/\r?\n/);
  while (lines.length && lines[lines.length - 1] === "") lines.pop();
  const first = lines.shift() ?? "";
  let start: RtspMessage["start"];
  const resp = /^RTSP\/(\d\.\d) (\d{3})(?: (.*))?$/.exec(first);
  const req = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) RTSP\/(\d\.\d)$/.exec(first);
  if (resp) {
    if (resp[1] !== "1.0") return { kind: "error", reason: `unsupported version RTSP/${resp[1]}` };
    start = { kind: "response", status: Number(resp[2]), reason: resp[3] ?? "" };
  } else if (req) {
    if (req[3] !== "1.0") return { kind: "error", reason: `unsupported version RTSP/${req[3]}` };
    start = { kind: "request", method: req[1], uri: req[2] };
  } else {
    return { kind: "error", reason: "malformed start line" };
  }
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line)) {
      if (!headers.length) return { kind: "error", reason: "continuation without a header" };
      headers[headers.length - 1][1] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) return { kind: "error", reason: "malformed header line" };
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(line)) {
      return { kind: "error", reason: "control character in a header" };
    }
    headers.push([name, line.slice(colon + 1).trim()]);
    if (headers.length > MAX_HEADERS) return { kind: "error", reason: "too many headers" };
  }
  const lengths = headers.filter(([n]) => n.toLowerCase() === "content-length").map(([, v]) => v);
  if (new Set(lengths).size > 1) return { kind: "error", reason: "conflicting Content-Length" };
  let bodySize = 0;
  if (lengths.length) {
    if (!/^\d{1,8}$/.test(lengths[0])) return { kind: "error", reason: "bad Content-Length" };
    bodySize = Number(lengths[0]);
    if (bodySize > MAX_BODY_BYTES) return { kind: "error", reason: "body too large" };
  }
  if (buf.length < end + bodySize) return { kind: "more" };
  const body = buf.slice(end, end + bodySize);
  return { kind: "message", message: { start, headers, body }, size: end + bodySize };
}

/** The first value of a header (case-insensitive), or null. */
export function header(m: RtspMessage, name: string): string | null {
  const n = name.toLowerCase();
  return m.headers.find(([k]) => k.toLowerCase() === n)?.[1] ?? null;
}

/** Every value of a header (case-insensitive). */
export function headers(m: RtspMessage, name: string): string[] {
  const n = name.toLowerCase();
  return m.headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
}

/** Replaces every value of a header with one (where the first was, else appended); null removes it. */
export function setHeader(m: RtspMessage, name: string, value: string | null): void {
  const n = name.toLowerCase();
  const at = m.headers.findIndex(([k]) => k.toLowerCase() === n);
  const rest = m.headers.filter(([k]) => k.toLowerCase() !== n);
  if (value !== null) {
    // Nothing before the first occurrence was removed, so `at` is still its place.
    if (at < 0) rest.push([name, value]);
    else rest.splice(at, 0, [m.headers[at][0], value]);
  }
  m.headers = rest;
}

/** Serializes a message; Content-Length follows the body (absent for an empty one). */
export function serialize(m: RtspMessage): Uint8Array {
  setHeader(m, "Content-Length", m.body.length ? String(m.body.length) : null);
  const first = m.start.kind === "request"
    ? `${m.start.method} ${m.start.uri} RTSP/1.0`
    : `RTSP/1.0 ${m.start.status} ${m.start.reason}`;
  const head = new TextEncoder().encode(
    `${first}\r\n${m.headers.map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`,
  );
  if (!m.body.length) return head;
  const out = new Uint8Array(head.length + m.body.length);
  out.set(head);
  out.set(m.body, head.length);
  return out;
}

/** A response built by the gateway itself (reason on one line, CSeq echoed). */
export function response(
  status: number,
  reason: string,
  cseq: string | null,
  extra: [string, string][] = [],
): RtspMessage {
  const h: [string, string][] = [];
  if (cseq !== null) h.push(["CSeq", cseq]);
  h.push(["Server", "Nanodems Connector"], ...extra);
  return {
    start: { kind: "response", status, reason: reason.replace(/[\r\n]+/g, " ").slice(0, 200) },
    headers: h,
    body: new Uint8Array(0),
  };
}
