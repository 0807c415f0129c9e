/**
 * The byte pump between two node-style sockets (TCP, TLS): bytes both ways with backpressure
 * (the source pauses while the destination's buffer is full; see {@linkcode canPause}) and TCP
 * half-close (one side's end becomes the other side's FIN). It never parses what it carries.
 * Both sockets must be created with `allowHalfOpen: true`.
 * @module
 */
import type { Duplex } from "node:stream";

/** What a finished pipe moved and why it stopped. */
export interface PipeResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  /** Bytes read from `b` and written to `a`. */
  bToA: number;
  /** The first error on either side, if any. */
  error: Error | null;
}

/**
 * Whether pausing `s` holds anything back. Not for a TLS socket on Deno (2.9): a paused
 * node:tls socket keeps reading TCP into a native buffer, so no backpressure reaches the peer,
 * and if the peer's FIN arrives while bytes wait in that buffer, 'end' is never emitted after
 * resume(): the pump then waits forever for an EOF that has already arrived. Such a socket is
 * left flowing; what it delivers queues on the other side instead.
 */
export function canPause(s: Duplex): boolean {
  return !(s as { encrypted?: boolean }).encrypted;
}

/** Copies `src` into `dst` with backpressure (where `src` can pause) and passes on its FIN. */
function pump(src: Duplex, dst: Duplex, count: (n: number) => void): void {
  let waiting = false;
  src.on("data", (c: Uint8Array) => {
    count(c.byteLength);
    if (dst.write(c) || waiting || !canPause(src)) return;
    waiting = true;
    src.pause();
    dst.once("drain", () => {
      waiting = false;
      src.resume();
    });
  });
  src.on("end", () => dst.end());
}

/** Pipes `a` ↔ `b` until both sockets have closed or either side fails; then destroys both. */
export function pipeSockets(a: Duplex, b: Duplex): Promise<PipeResult> {
  return new Promise((resolve) => {
    const result: PipeResult = { aToB: 0, bToA: 0, error: null };
    let closed = 0;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      result.error = err;
      a.destroy();
      b.destroy();
      resolve(result);
    };
    pump(a, b, (n) => (result.aToB += n));
    pump(b, a, (n) => (result.bToA += n));
    a.on("error", (e: Error) => finish(e));
    b.on("error", (e: Error) => finish(e));
    // A half-open socket closes by itself once it has read the peer's FIN and flushed its own.
    // Wait for that rather than destroying on 'finish': a Deno TLS socket still holds the tail
    // of what it was given then, and destroy() drops it. A side that closes before both its
    // directions are done was cut short: stop the other one too.
    const onClose = (s: Duplex) => () => {
      if (!(s.readableEnded && s.writableFinished)) setTimeout(() => finish(null), 0);
      else if (++closed === 2) finish(null);
    };
    a.on("close", onClose(a));
    b.on("close", onClose(b));
  });
}
