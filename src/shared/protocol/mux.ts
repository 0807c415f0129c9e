/**
 * The data connection's framing, in one place (rathole style; documented in `proto/mux.md`).
 * An agent keeps a few long-lived TLS data connections to its node and carries many tunnels on
 * each: every tunnel is a stream with its own id and its own credit-based flow control, so
 * opening a tunnel costs one frame instead of a TCP + TLS handshake, and a slow reader on one
 * stream never stalls another.
 *
 * A connection starts with the 24-byte preface of `wire.ts` (magic "NDT" + MUX_VERSION, ticket);
 * then both directions are a sequence of frames:
 *
 * ```
 * offset 0  u8   type      OPEN 1, OPENED 2, DATA 3, FIN 4, CLOSE 5, WINDOW 6, PING 7, PONG 8
 * offset 1  u8   flags     0 (anything else is a protocol error)
 * offset 2  u16  reserved  0
 * offset 4  u32  stream id (big-endian; 0 = the connection itself, for PING and PONG only)
 * offset 8  u32  payload length (big-endian), at most MAX_PAYLOAD
 * offset 12      payload
 * ```
 *
 * This file only encodes and decodes; `transport/mux_session.ts` runs the state machine.
 * @module
 */

/** Version of the framing; the fourth byte of the connection preface. */
export const MUX_VERSION = 2;
/** Size of a frame header. */
export const FRAME_HEADER = 12;
/** Largest DATA payload (and therefore the largest frame). */
export const MAX_PAYLOAD = 64 << 10;
/** Largest payload of an OPEN or CLOSE frame (a host name, a reason). */
export const MAX_CONTROL_PAYLOAD = 1024;
/** Credit each side grants each stream at open, in bytes (per direction). */
export const INITIAL_WINDOW = 256 << 10;
/**
 * The most a stream's window grows to (protocol 3 peers; see "Growing windows" in
 * `proto/mux.md`): what one stream may have in flight over a long link, and what a reader that
 * stalls after bulk may have to hold. 4 MiB carries 800 Mbit/s over a 40 ms round trip.
 */
export const MAX_STREAM_WINDOW = 4 << 20;
/** A window may never exceed this (2^31 − 1, as HTTP/2). */
export const MAX_WINDOW = 0x7fffffff;

/** Frame types. */
export const FrameType = {
  /** cloud → agent: open a stream to (host, port); payload = u16 port + UTF-8 host. */
  OPEN: 1,
  /** agent → cloud: the device answered, bytes may flow; no payload. */
  OPENED: 2,
  /** bytes of the stream; 1..MAX_PAYLOAD, never more than the receiver's remaining credit. */
  DATA: 3,
  /** half-close: no more DATA from the sender on this stream; no payload. */
  FIN: 4,
  /** the stream is over (or refused); payload = u8 CloseCode + UTF-8 reason. */
  CLOSE: 5,
  /** more credit for the receiver's peer; payload = u32 increment (1 .. 2^31 − 1). */
  WINDOW: 6,
  /** liveness probe on stream 0 (the connection); payload = 8 opaque bytes, answered by PONG. */
  PING: 7,
  /** the answer to a PING on stream 0, echoing its 8 bytes. */
  PONG: 8,
} as const;

/** How long a connection may stay silent before a PING goes out (NATs forget idle flows). */
export const KEEPALIVE_MS = 20_000;
/** A connection silent this long (no frame at all, PONGs included) is dead and closed. */
export const DEAD_AFTER_MS = 3 * KEEPALIVE_MS;

/** A frame type value. */
export type FrameTypeValue = (typeof FrameType)[keyof typeof FrameType];

/** Why a stream closed (the u8 at the start of a CLOSE payload). */
export const CloseCode = {
  /** Both sides are done, or one side closed: reads end normally. */
  normal: 0,
  /** The agent refused the target (its own allowlist). */
  target_not_allowed: 1,
  /** The agent could not reach the device. */
  dial_failed: 2,
  /** The device did not answer in time. */
  dial_timeout: 3,
  /** The stream failed (an error on either side). */
  error: 4,
} as const;

/** A close code name. */
export type CloseCodeName = keyof typeof CloseCode;

const CODE_NAMES = Object.fromEntries(
  Object.entries(CloseCode).map(([k, v]) => [v, k as CloseCodeName]),
) as Record<number, CloseCodeName>;

/** A parsed frame header. */
export interface FrameHeader {
  type: number;
  stream: number;
  length: number;
}

/** A violation of the framing by the peer: the connection is closed. */
export class ProtocolError extends Error {
  /** Creates the error with what was violated. */
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

/** Writes a frame header at `off` of `buf`. */
export function writeHeader(
  buf: Uint8Array,
  off: number,
  type: FrameTypeValue,
  stream: number,
  length: number,
): void {
  buf[off] = type;
  buf[off + 1] = 0;
  buf[off + 2] = 0;
  buf[off + 3] = 0;
  buf[off + 4] = stream >>> 24;
  buf[off + 5] = (stream >>> 16) & 0xff;
  buf[off + 6] = (stream >>> 8) & 0xff;
  buf[off + 7] = stream & 0xff;
  buf[off + 8] = length >>> 24;
  buf[off + 9] = (length >>> 16) & 0xff;
  buf[off + 10] = (length >>> 8) & 0xff;
  buf[off + 11] = length & 0xff;
}

function u32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) >>> 0) + (buf[off + 1] << 16) + (buf[off + 2] << 8) + buf[off + 3];
}

/**
 * Reads the frame header at `off` and checks what can be checked without state: a known type,
 * zero flags and reserved bytes, a non-zero stream id, a length within the type's limit.
 * Throws ProtocolError otherwise.
 */
export function readHeader(buf: Uint8Array, off: number): FrameHeader {
  const type = buf[off];
  if (buf[off + 1] !== 0 || buf[off + 2] !== 0 || buf[off + 3] !== 0) {
    throw new ProtocolError("non-zero flags or reserved bytes");
  }
  const stream = u32(buf, off + 4);
  const length = u32(buf, off + 8);
  if (type === FrameType.PING || type === FrameType.PONG) {
    if (stream !== 0) throw new ProtocolError("PING/PONG on a stream");
    if (length !== 8) throw new ProtocolError("PING/PONG payload must be 8 bytes");
    return { type, stream, length };
  }
  if (stream === 0) throw new ProtocolError("stream id 0");
  switch (type) {
    case FrameType.DATA:
      if (length === 0) throw new ProtocolError("empty DATA frame");
      if (length > MAX_PAYLOAD) throw new ProtocolError(`frame of ${length} bytes exceeds the max`);
      break;
    case FrameType.OPEN:
    case FrameType.CLOSE:
      if (length > MAX_CONTROL_PAYLOAD) {
        throw new ProtocolError(`frame of ${length} bytes exceeds the max`);
      }
      break;
    case FrameType.WINDOW:
      if (length !== 4) throw new ProtocolError("WINDOW payload must be 4 bytes");
      break;
    case FrameType.OPENED:
    case FrameType.FIN:
      if (length !== 0) throw new ProtocolError("unexpected payload");
      break;
    default:
      throw new ProtocolError(`unknown frame type ${type}`);
  }
  return { type, stream, length };
}

/** The size of a frame with a payload of `length` bytes. */
export function frameSize(length: number): number {
  return FRAME_HEADER + length;
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

/** The payload of an OPEN frame. */
export function encodeOpen(host: string, port: number): Uint8Array {
  const h = enc.encode(host);
  if (h.byteLength === 0 || h.byteLength > 255) throw new RangeError("host must be 1..255 bytes");
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError("bad port");
  const out = new Uint8Array(2 + h.byteLength);
  out[0] = port >> 8;
  out[1] = port & 0xff;
  out.set(h, 2);
  return out;
}

/** Parses an OPEN payload; throws ProtocolError when malformed. */
export function decodeOpen(payload: Uint8Array): { host: string; port: number } {
  if (payload.byteLength < 3 || payload.byteLength > 257) {
    throw new ProtocolError("malformed OPEN");
  }
  const port = (payload[0] << 8) | payload[1];
  if (port === 0) throw new ProtocolError("OPEN with port 0");
  try {
    return { port, host: dec.decode(payload.subarray(2)) };
  } catch {
    throw new ProtocolError("OPEN host is not UTF-8");
  }
}

/** The payload of a CLOSE frame (the reason is cut to fit MAX_CONTROL_PAYLOAD). */
export function encodeClose(code: CloseCodeName, reason: string): Uint8Array {
  const r = enc.encode(reason).subarray(0, MAX_CONTROL_PAYLOAD - 1);
  const out = new Uint8Array(1 + r.byteLength);
  out[0] = CloseCode[code];
  out.set(r, 1);
  return out;
}

/** Parses a CLOSE payload (an unknown code reads as "error"; bad UTF-8 is replaced). */
export function decodeClose(payload: Uint8Array): { code: CloseCodeName; reason: string } {
  if (payload.byteLength === 0) return { code: "normal", reason: "" };
  return {
    code: CODE_NAMES[payload[0]] ?? "error",
    reason: new TextDecoder().decode(payload.subarray(1)),
  };
}

/** The payload of a WINDOW frame. */
export function encodeWindow(increment: number): Uint8Array {
  const out = new Uint8Array(4);
  writeU32(out, 0, increment);
  return out;
}

/** Parses a WINDOW payload; a zero increment is a protocol error. */
export function decodeWindow(payload: Uint8Array): number {
  const n = u32(payload, 0);
  if (n === 0 || n > MAX_WINDOW) throw new ProtocolError(`bad WINDOW increment ${n}`);
  return n;
}

function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}
