/**
 * A data connection the mux tests script frame by frame: `gatedConn` records every write and
 * holds it until the test releases it, and its reads return the bytes the test feeds; `frames`
 * and `frameBytes` read and build the wire format of `src/shared/protocol/mux.ts`.
 * @module
 */
import {
  FRAME_HEADER,
  type FrameTypeValue,
  readHeader,
  writeHeader,
} from "../../src/shared/protocol/mux.ts";

/**
 * A connection whose writes are recorded and held until released, and whose reads return the
 * frames the test feeds: the session's output order can be read frame by frame.
 */
export function gatedConn() {
  const written: Uint8Array[] = [];
  let release: (() => void) | null = null;
  let held = 0;
  const incoming: Uint8Array[] = [];
  let reader: ((b: Uint8Array | null) => void) | null = null;
  const conn = {
    read(p: Uint8Array): Promise<number | null> {
      const take = (b: Uint8Array | null) => {
        if (!b) return null;
        p.set(b);
        return b.byteLength;
      };
      const next = incoming.shift();
      if (next) return Promise.resolve(take(next));
      return new Promise<number | null>((resolve) => (reader = (b) => resolve(take(b))));
    },
    write(p: Uint8Array): Promise<number> {
      written.push(p.slice());
      held++;
      return new Promise((resolve) => (release = () => resolve(p.byteLength)));
    },
    closeWrite: () => Promise.resolve(),
    close() {
      reader?.(null);
    },
  };
  return {
    conn,
    written,
    get held() {
      return held;
    },
    feed(b: Uint8Array) {
      if (reader) {
        const r = reader;
        reader = null;
        r(b);
      } else incoming.push(b);
    },
    release() {
      const r = release;
      release = null;
      r?.();
    },
  };
}

/** The (type, stream, length) of every frame in `bytes`. */
export function frames(bytes: Uint8Array[]): { type: number; stream: number; length: number }[] {
  const all = new Uint8Array(bytes.reduce((n, b) => n + b.byteLength, 0));
  let off = 0;
  for (const b of bytes) {
    all.set(b, off);
    off += b.byteLength;
  }
  const out = [];
  for (let at = 0; at < all.byteLength;) {
    const h = readHeader(all, at);
    out.push({ type: h.type, stream: h.stream, length: h.length });
    at += FRAME_HEADER + h.length;
  }
  return out;
}

/** One frame's bytes. */
export function frameBytes(
  type: FrameTypeValue,
  stream: number,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  const f = new Uint8Array(FRAME_HEADER + payload.byteLength);
  writeHeader(f, 0, type, stream, payload.byteLength);
  f.set(payload, FRAME_HEADER);
  return f;
}
