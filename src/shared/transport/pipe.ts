/**
 * The byte pump between two Deno connections (TCP or TLS): bytes both ways with backpressure
 * (each direction reads only after its last write finished) and TCP half-close (one side's EOF
 * becomes the other side's FIN via closeWrite). It never parses what it carries. One buffer per
 * direction is reused, so moving bytes allocates nothing; it is small while the direction is
 * quiet and grows while bulk flows (idle tunnels are most tunnels). A tunnel stream that hands
 * out its received chunks (`readChunk`) is read that way instead, holding no buffer while quiet.
 *
 * Deno connections rather than node:net/node:tls sockets because on Deno 2.9 a paused node:tls
 * socket keeps reading into a native buffer (no backpressure) and can lose the peer's end of
 * stream; Deno's own connections are read only when asked.
 * @module
 */
import type { ByteStream } from "./byte_stream.ts";
import { chunkPool } from "./buffer_pool.ts";

/** What a finished pipe moved and why it stopped. */
export interface PipeResult {
  /** Bytes read from `a` and written to `b`. */
  aToB: number;
  /** Bytes read from `b` and written to `a`. */
  bToA: number;
  /** The first error on either side, if any. */
  error: Error | null;
}

/** Read buffer of a quiet direction: what a pending read holds while a tunnel idles. */
export const SMALL_READ = 2 << 10;
/** Read buffer once a direction moves bulk (a read filled the small one). */
export const LARGE_READ = 64 << 10;

/**
 * The next read buffer size: grow when a read filled the buffer (bulk is flowing), shrink back
 * when a read was tiny (interactive or idle). A pending read holds its buffer, so an idle
 * tunnel costs 2 × SMALL_READ here instead of 2 × 64 KiB.
 */
export function nextReadSize(current: number, got: number): number {
  if (got >= current) return LARGE_READ;
  if (got < SMALL_READ / 2) return SMALL_READ;
  return current;
}

/**
 * Copies src → dst until src's EOF, then half-closes dst; when src's peer closed it both ways
 * (nothing written back will be read), it then ends the pipe (Interrupted: both sides are
 * closed). Calls `count` per chunk.
 */
function copy(src: ByteStream, dst: ByteStream, count: (n: number) => void): Promise<void> {
  // Not an async function itself: an idle tunnel's pending copies are then one async frame each.
  return src.readChunk ? copyChunks(src, dst, count) : copyInto(src, dst, count);
}

/** After src's end: half-closes dst, or ends the pipe when src's peer closed it both ways. */
async function ended(src: ByteStream, dst: ByteStream): Promise<void> {
  await dst.closeWrite();
  // The end goes on first (a FIN, read as an end); then, when src's peer closed it both ways, the
  // other direction is not waited on: a device that never answers would hold it forever.
  if (src.closedByPeer?.()) throw new Deno.errors.Interrupted("closed both ways by the peer");
}

/** src → dst through one reused read buffer, small while quiet (a Deno connection). */
async function copyInto(
  src: ByteStream,
  dst: ByteStream,
  count: (n: number) => void,
): Promise<void> {
  let buf = new Uint8Array(SMALL_READ);
  for (;;) {
    const n = await src.read(buf);
    if (n === null) break;
    count(n);
    let off = 0;
    while (off < n) off += await dst.write(buf.subarray(off, n));
    const size = nextReadSize(buf.byteLength, n);
    if (size !== buf.byteLength) buf = new Uint8Array(size);
  }
  await ended(src, dst);
}

/**
 * src → dst taking the chunks src hands out (a tunnel stream's received bytes): a quiet
 * direction's pending read then holds no buffer (an idle tunnel's agent kept 2 KiB per tunnel
 * for it), and bytes are not copied once more into a read buffer. Each chunk goes back to the
 * pool once written.
 */
async function copyChunks(
  src: ByteStream,
  dst: ByteStream,
  count: (n: number) => void,
): Promise<void> {
  for (;;) {
    const chunk = await src.readChunk!(LARGE_READ);
    if (chunk === null) break;
    const n = chunk.byteLength;
    count(n);
    let off = 0;
    while (off < n) off += await dst.write(chunk.subarray(off));
    chunkPool.give(chunk);
  }
  await ended(src, dst);
}

function close(c: ByteStream): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

/** Pipes `a` ↔ `b` until both directions ended or either fails; then closes both. */
export async function pipeConns(
  a: ByteStream,
  b: ByteStream,
  onBytes?: (aToB: number, bToA: number) => void,
): Promise<PipeResult> {
  const r: PipeResult = { aToB: 0, bToA: 0, error: null };
  const fail = (e: unknown) => {
    r.error ??= e as Error;
    // One direction failed: the tunnel is over, stop the other one too.
    close(a);
    close(b);
  };
  await Promise.all([
    copy(a, b, (n) => {
      r.aToB += n;
      onBytes?.(n, 0);
    }).catch(fail),
    copy(b, a, (n) => {
      r.bToA += n;
      onBytes?.(0, n);
    }).catch(fail),
  ]);
  close(a);
  close(b);
  if (r.error instanceof Deno.errors.BadResource || r.error instanceof Deno.errors.Interrupted) {
    // Closed by the other direction's failure: not an error of its own.
    r.error = null;
  }
  return r;
}
