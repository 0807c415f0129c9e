/**
 * One direction of an RTSP connection: reads a Deno connection, hands each complete RTSP
 * message to a handler, and forwards interleaved `$` frames to their destination untouched, as
 * they arrive (a frame split over several reads is written piece by piece straight from the
 * read buffer, holding the destination's write lock so nothing else lands inside it). Once PLAY
 * starts, a camera stream is almost only frames, so the hot path is a byte pump that looks at
 * four header bytes per frame, writes each run of whole frames in one write and copies nothing.
 * @module
 */
import type { ByteStream } from "../../../shared/transport/byte_stream.ts";
import { parseNext, type RtspMessage } from "./message.ts";

/** Serializes writes to one connection (a frame or a message at a time). */
export class WriteLock {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for the lock; the returned function releases it. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const before = this.#tail;
    this.#tail = before.then(() => held);
    return before.then(() => release);
  }

  /** Writes all of `bytes` to `conn` under the lock. */
  async write(conn: ByteStream, bytes: Uint8Array): Promise<void> {
    const release = await this.acquire();
    try {
      await writeAll(conn, bytes);
    } finally {
      release();
    }
  }
}

/** Writes every byte (Deno's write may be partial). */
export async function writeAll(conn: ByteStream, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** The length of the run of complete `$` frames at the start of `data`. */
export function wholeFrames(data: Uint8Array): number {
  let end = 0;
  while (data.length - end >= 4 && data[end] === 0x24) {
    const next = end + 4 + ((data[end + 2] << 8) | data[end + 3]);
    if (next > data.length) break;
    end = next;
  }
  return end;
}

/** What a direction does with what it reads. */
export interface DemuxHandlers {
  /** A complete message (its body is a copy; the handler may keep it). */
  message(m: RtspMessage): Promise<void>;
  /** Where interleaved frames go and that connection's lock; null refuses them. */
  frameTarget(): { conn: ByteStream; lock: WriteLock } | null;
  /** Malformed input (or frames refused): the direction stops after this. */
  malformed(reason: string): Promise<void>;
  /** Bytes read, for accounting. */
  count?(n: number): void;
}

/** Runs one direction until EOF, a malformed message, or a read/write error (thrown). */
export async function demux(src: ByteStream, h: DemuxHandlers): Promise<void> {
  const buf = new Uint8Array(64 << 10);
  let carry: Uint8Array = new Uint8Array(0);
  let frameLeft = 0;
  let target: { conn: ByteStream; lock: WriteLock } | null = null;
  let release: (() => void) | null = null;
  try {
    for (;;) {
      const n = await src.read(buf);
      if (n === null) return;
      h.count?.(n);
      let data: Uint8Array = buf.subarray(0, n);
      if (carry.length) {
        const joined = new Uint8Array(carry.length + n);
        joined.set(carry);
        joined.set(data, carry.length);
        data = joined;
        carry = new Uint8Array(0);
      }
      while (data.length) {
        if (frameLeft > 0) {
          const take = Math.min(frameLeft, data.length);
          await writeAll(target!.conn, data.subarray(0, take));
          frameLeft -= take;
          data = data.subarray(take);
          if (frameLeft === 0) {
            release!();
            release = null;
          }
          continue;
        }
        const p = parseNext(data);
        if (p.kind === "more") {
          carry = data.slice(); // the read buffer is reused
          break;
        }
        if (p.kind === "error") return await h.malformed(p.reason);
        if (p.kind === "frame") {
          target = h.frameTarget();
          if (!target) return await h.malformed("interleaved data before a session");
          release = await target.lock.acquire();
          // Every whole frame in a row goes out in one write; a frame cut by the read's end is
          // finished from the next reads, still under the lock.
          const whole = wholeFrames(data);
          if (whole > 0) {
            await writeAll(target.conn, data.subarray(0, whole));
            data = data.subarray(whole);
            release();
            release = null;
          } else {
            frameLeft = p.size;
          }
          continue;
        }
        data = data.subarray(p.size);
        await h.message(p.message);
      }
    }
  } finally {
    release?.();
  }
}
