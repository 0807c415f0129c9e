/**
 * Chunk buffers the data plane hands back for reuse. The cloud's WebSocket ↔ mux relay and the
 * CLI's socket ↔ WebSocket relay made a fresh buffer for every chunk they passed on (a frame's
 * payload, a DATA frame's bytes, a socket read). V8 counts those buffers as external memory, and
 * at gigabits per second that count reached its limit a few times a second: each time a full
 * mark-compact, 4–30 ms with the thread stopped — the tail of a keystroke's round trip under
 * bulk — on top of zero-filling and freeing every buffer (README "Performance").
 *
 * `take` gives a buffer of at least the asked size, rounded up to a power of two from 8 KiB to
 * 64 KiB (smaller and larger ones are plain allocations, never pooled). Whoever holds it last
 * may `give` it back once nothing reads it any more; buffers never given back are collected as
 * before, so a consumer that does not know the pool loses nothing. Only buffers the pool made
 * are taken back (a foreign buffer may be a view into memory someone else still uses), and at
 * most `MAX_PER_CLASS` of each size; the agent lets them all go when it goes idle.
 * @module
 */

/** The smallest pooled size; below it a chunk is a plain allocation. */
export const MIN_POOLED = 8 << 10;
/** The largest pooled size (the mux's largest DATA payload and the relays' largest read). */
export const MAX_POOLED = 64 << 10;
/** How many free buffers of one size are kept: at most 1.9 MiB over the four sizes. */
export const MAX_PER_CLASS = 16;

/** A pool of chunk buffers by power-of-two size (see the module comment). */
export class BufferPool {
  #free = new Map<number, ArrayBuffer[]>();
  /** Every buffer this pool made (only those are taken back). */
  #mine = new WeakSet<ArrayBuffer>();
  /** The ones now in a free list (a second give of one is ignored, never listed twice). */
  #isFree = new WeakSet<ArrayBuffer>();

  /** A buffer of `len` bytes (its contents are not cleared), pooled when the size allows. */
  take(len: number): Uint8Array {
    if (len < MIN_POOLED || len > MAX_POOLED) return new Uint8Array(len);
    const size = classOf(len);
    const buf = this.#free.get(size)?.pop();
    if (buf) {
      this.#isFree.delete(buf);
      return new Uint8Array(buf, 0, len);
    }
    const fresh = new ArrayBuffer(size);
    this.#mine.add(fresh);
    return new Uint8Array(fresh, 0, len);
  }

  /** A pooled copy of `src` (a plain copy when its size is not pooled). */
  copy(src: Uint8Array): Uint8Array {
    const out = this.take(src.byteLength);
    out.set(src);
    return out;
  }

  /**
   * Hands a buffer back. The caller must hold the only reference to its memory and not touch it
   * again; buffers the pool did not make are ignored.
   */
  give(view: Uint8Array): void {
    const buf = view.buffer as ArrayBuffer;
    if (!this.#mine.has(buf) || this.#isFree.has(buf)) return;
    let list = this.#free.get(buf.byteLength);
    if (!list) this.#free.set(buf.byteLength, list = []);
    if (list.length >= MAX_PER_CLASS) return;
    list.push(buf);
    this.#isFree.add(buf);
  }

  /** Free buffers held now, in bytes. */
  get retained(): number {
    let n = 0;
    for (const [size, list] of this.#free) n += size * list.length;
    return n;
  }

  /** Lets every free buffer go (an idle agent does, before its memory trim). */
  clear(): void {
    for (const list of this.#free.values()) for (const b of list) this.#isFree.delete(b);
    this.#free.clear();
  }
}

/** The power of two a pooled buffer of `len` bytes is taken from. */
function classOf(len: number): number {
  let size = MIN_POOLED;
  while (size < len) size *= 2;
  return size;
}

/** The process's pool, shared by the relays of every tunnel. */
export const chunkPool: BufferPool = new BufferPool();
