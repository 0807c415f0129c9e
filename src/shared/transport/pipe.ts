/**
 * The byte pump between two node-style sockets (TCP, TLS): bytes both ways with backpressure
 * (node's `pipe` pauses the source when the destination's buffer is full) and TCP half-close
 * (one side's end becomes the other side's FIN). It never parses what it carries.
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

/** Pipes `a` ↔ `b` until both directions are flushed or either side fails; then destroys both. */
export function pipeSockets(a: Duplex, b: Duplex): Promise<PipeResult> {
  return new Promise((resolve) => {
    const result: PipeResult = { aToB: 0, bToA: 0, error: null };
    let finished = 0;
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      result.error = err;
      a.destroy();
      b.destroy();
      resolve(result);
    };
    // A direction is done when its destination has flushed everything and sent its FIN
    // ('finish'), not when its source ended: on the source's 'end' the last chunk and the FIN
    // are still queued on the destination, and destroying it then cuts them off.
    const onFinish = () => {
      if (++finished === 2) finish(null);
    };
    a.on("data", (c: Uint8Array) => (result.aToB += c.byteLength));
    b.on("data", (c: Uint8Array) => (result.bToA += c.byteLength));
    a.once("finish", onFinish);
    b.once("finish", onFinish);
    a.on("error", (e: Error) => finish(e));
    b.on("error", (e: Error) => finish(e));
    // A side closing before both of its directions are done was cut short: stop.
    const onClose = (s: Duplex) => () => {
      if (!(s.readableEnded && s.writableFinished)) setTimeout(() => finish(null), 0);
    };
    a.on("close", onClose(a));
    b.on("close", onClose(b));
    a.pipe(b);
    b.pipe(a);
  });
}
