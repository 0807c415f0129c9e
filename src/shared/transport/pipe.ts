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
 * direction costs SMALL_READ here instead of 64 KiB.
 */
export function nextReadSize(current: number, got: number): number {
  if (got >= current) return LARGE_READ;
  if (got < SMALL_READ / 2) return SMALL_READ;
  return current;
}

/** An empty buffer: what a direction holds while no write is under way. */
const EMPTY: Uint8Array = new Uint8Array(0);

/**
 * Copies src → dst until src's EOF, then half-closes dst; when src's peer closed it both ways
 * (nothing written back will be read), it then ends the pipe (Interrupted: both sides are
 * closed). Calls `count` per chunk.
 *
 * A source that hands out chunks of its own (`readChunk`: a tunnel stream's received bytes) is
 * read that way: a quiet direction's pending read then holds no buffer, and bytes are not copied
 * once more; each chunk goes back to the pool once written. Other sources (Deno connections) are
 * read into one reused buffer, small while quiet. Written with callbacks rather than as an async
 * loop (as the cloud's WebSocket pump is): an idle direction waits on one promise of its source,
 * not on an async frame and the closures every `await` makes. The two took an idle tunnel's live
 * heap on the agent from 10.8 to 8.0 KB (README "Idle tunnels on the agent").
 */
function copy(src: ByteStream, dst: ByteStream, count: (n: number) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => new Copy(src, dst, count, resolve, reject).read());
}

/**
 * One direction of a pipe (see {@link copy}). Its steps are methods, so an idle direction holds
 * this object and its source's pending read, and no closures of its own beyond that read's two
 * callbacks.
 */
class Copy {
  /** The read buffer (none when the source hands out chunks). */
  #buf: Uint8Array;
  /** The bytes being written. */
  #held: Uint8Array = EMPTY;
  /** How many of them are written. */
  #off = 0;
  readonly #chunks: boolean;

  constructor(
    readonly src: ByteStream,
    readonly dst: ByteStream,
    readonly count: (n: number) => void,
    readonly resolve: () => void,
    readonly reject: (e: unknown) => void,
  ) {
    this.#chunks = src.readChunk !== undefined;
    this.#buf = this.#chunks ? EMPTY : new Uint8Array(SMALL_READ);
  }

  read(): void {
    try {
      if (this.#chunks) {
        this.src.readChunk!(LARGE_READ).then((c) => this.#got(c), this.reject);
      } else {
        this.src.read(this.#buf).then(
          (n) => this.#got(n === null ? null : this.#buf.subarray(0, n)),
          this.reject,
        );
      }
    } catch (e) {
      this.reject(e);
    }
  }

  /** `bytes` read (null at the end of the source). */
  #got(bytes: Uint8Array | null): void {
    if (bytes === null) return this.#ended();
    this.#held = bytes;
    this.#off = 0;
    try {
      this.count(bytes.byteLength);
    } catch (e) {
      return this.reject(e);
    }
    this.#write();
  }

  #write(): void {
    const held = this.#held;
    try {
      this.dst.write(this.#off ? held.subarray(this.#off) : held).then(
        (w) => this.#wrote(w),
        this.reject,
      );
    } catch (e) {
      this.reject(e);
    }
  }

  #wrote(w: number): void {
    this.#off += w;
    if (this.#off < this.#held.byteLength) return this.#write();
    if (this.#chunks) chunkPool.give(this.#held);
    else {
      const size = nextReadSize(this.#buf.byteLength, this.#held.byteLength);
      if (size !== this.#buf.byteLength) this.#buf = new Uint8Array(size);
    }
    this.#held = EMPTY;
    this.read();
  }

  #ended(): void {
    // The end goes on first (a FIN, read as an end); then, when src's peer closed it both ways,
    // the other direction is not waited on: a device that never answers would hold it forever.
    // Every step runs in a promise callback: a throw escaping one would be an unhandled
    // rejection, not this pipe's error (an async loop turned it into one).
    try {
      this.dst.closeWrite().then(() => {
        if (this.src.closedByPeer?.()) {
          this.reject(new Deno.errors.Interrupted("closed both ways by the peer"));
        } else this.resolve();
      }, this.reject);
    } catch (e) {
      this.reject(e);
    }
  }
}

function close(c: ByteStream): void {
  try {
    c.close();
  } catch { /* already closed */ }
}

/** Pipes `a` ↔ `b` until both directions ended or either fails; then closes both. */
export function pipeConns(
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
  // Not an async function: an idle tunnel waits on its two copies' promises, not on a frame.
  return Promise.all([
    copy(a, b, (n) => {
      r.aToB += n;
      onBytes?.(n, 0);
    }).catch(fail),
    copy(b, a, (n) => {
      r.bToA += n;
      onBytes?.(0, n);
    }).catch(fail),
  ]).then(() => {
    close(a);
    close(b);
    if (r.error instanceof Deno.errors.BadResource || r.error instanceof Deno.errors.Interrupted) {
      // Closed by the other direction's failure: not an error of its own.
      r.error = null;
    }
    return r;
  });
}
