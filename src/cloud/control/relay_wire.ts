/**
 * The frames between the cloud and its control relay process (relay.ts, relay_child.ts): one
 * length-prefixed binary frame per event, over the child's stdin/stdout. The relay terminates the
 * agents' gRPC-over-mTLS connections and forwards each stream's message bytes untouched; every
 * decision (who may connect, what a message means) stays in the cloud process.
 *
 * Layout: u32 length of what follows | u8 type | u32 stream id | payload.
 * @module
 */

/** Frame types. */
export const RelayFrame = {
  /** parent → child, stream 0: the relay's configuration (JSON). */
  CONFIG: 1,
  /** child → parent, stream 0: listening; payload u32 port. */
  READY: 2,
  /** child → parent: a new agent stream; payload = certificate CN (UTF-8). */
  OPEN: 3,
  /** child → parent: one message from the agent (serialized AgentMessage). */
  DATA: 4,
  /** child → parent: the agent half-closed its stream. */
  END: 5,
  /** child → parent: the stream is gone (cancelled, reset, errored or finished). */
  GONE: 6,
  /** parent → child: send one message to the agent (serialized CloudMessage). */
  SEND: 7,
  /** parent → child: end the stream with status OK. */
  FINISH: 8,
  /** parent → child: end the stream with a status; payload u32 code + details (UTF-8). */
  DENY: 9,
  /** child → parent, before OPEN: the agent's certificate (DER) for that stream. */
  PEER: 10,
  /** parent → child, stream 0: a new TLS identity (JSON {caPem, certPem, keyPem}). */
  IDENTITY: 11,
} as const;

/** Frames larger than this are a protocol error (agent messages are far smaller). */
export const MAX_RELAY_FRAME = 8 << 20;

/** Encodes one frame. */
export function encodeRelayFrame(type: number, id: number, payload?: Uint8Array): Uint8Array {
  const len = payload?.length ?? 0;
  const out = new Uint8Array(9 + len);
  const v = new DataView(out.buffer);
  v.setUint32(0, 5 + len);
  out[4] = type;
  v.setUint32(5, id);
  if (payload) out.set(payload, 9);
  return out;
}

/** A decoded frame. */
export interface Frame {
  type: number;
  id: number;
  payload: Uint8Array;
}

/** Reads frames from a byte stream as they complete. */
export async function* readRelayFrames(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<Frame> {
  let buf = new Uint8Array(0);
  for await (const chunk of stream) {
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = new DataView(buf.buffer, buf.byteOffset + off).getUint32(0);
      if (len < 5 || len > MAX_RELAY_FRAME) throw new Error(`bad relay frame length ${len}`);
      if (buf.length - off < 4 + len) break;
      const f = buf.subarray(off + 4, off + 4 + len);
      yield {
        type: f[0],
        id: new DataView(f.buffer, f.byteOffset).getUint32(1),
        payload: f.slice(5),
      };
      off += 4 + len;
    }
    buf = buf.slice(off);
  }
}

/** DENY payload: code + details. */
export function encodeDeny(code: number, details: string): Uint8Array {
  const text = new TextEncoder().encode(details);
  const out = new Uint8Array(4 + text.length);
  new DataView(out.buffer).setUint32(0, code);
  out.set(text, 4);
  return out;
}

/** Decodes a DENY payload. */
export function decodeDeny(p: Uint8Array): { code: number; details: string } {
  return {
    code: new DataView(p.buffer, p.byteOffset).getUint32(0),
    details: new TextDecoder().decode(p.subarray(4)),
  };
}
