/**
 * The chunk pool the relays reuse buffers from: sizes round up to a power of two within the
 * pooled range, only the pool's own buffers come back, a buffer is never listed twice, the free
 * lists are bounded, and `clear` lets them all go.
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  BufferPool,
  MAX_PER_CLASS,
  MAX_POOLED,
  MIN_POOLED,
} from "../../../../src/shared/transport/buffer_pool.ts";

Deno.test("BufferPool: sizes, reuse of given buffers, foreign buffers ignored", () => {
  const pool = new BufferPool();
  const small = pool.take(MIN_POOLED - 1);
  assertEquals(small.byteLength, MIN_POOLED - 1);
  assertEquals(small.buffer.byteLength, MIN_POOLED - 1, "below the range: a plain allocation");
  const big = pool.take(MAX_POOLED + 1);
  assertEquals(big.buffer.byteLength, MAX_POOLED + 1, "above the range: a plain allocation");

  const a = pool.take(20_000);
  assertEquals(a.byteLength, 20_000);
  assertEquals(a.buffer.byteLength, 32 << 10, "rounded up to a power of two");
  pool.give(a);
  assertEquals(pool.retained, 32 << 10);
  const b = pool.take(17_000);
  assert(b.buffer === a.buffer, "the given buffer serves the next take of its size");
  assertEquals(b.byteLength, 17_000);
  assertEquals(pool.retained, 0);

  // Buffers it did not make, and views of them, never enter the pool.
  pool.give(new Uint8Array(32 << 10));
  pool.give(small);
  pool.give(big);
  assertEquals(pool.retained, 0);

  // A view of a pooled buffer gives back the whole buffer.
  pool.give(b.subarray(100, 200));
  assertEquals(pool.retained, 32 << 10);
});

Deno.test("BufferPool: a buffer given twice is listed once; lists are bounded; clear empties", () => {
  const pool = new BufferPool();
  const a = pool.take(MIN_POOLED);
  pool.give(a);
  pool.give(a);
  const first = pool.take(MIN_POOLED);
  const second = pool.take(MIN_POOLED);
  assert(first.buffer === a.buffer);
  assert(second.buffer !== a.buffer, "the same memory is never handed to two holders");

  const many = Array.from({ length: MAX_PER_CLASS + 5 }, () => pool.take(MAX_POOLED));
  for (const m of many) pool.give(m);
  assertEquals(pool.retained, MAX_PER_CLASS * MAX_POOLED);
  pool.clear();
  assertEquals(pool.retained, 0);
  // Cleared buffers come back if their holder gives them later (they are still the pool's).
  pool.give(first);
  assertEquals(pool.retained, MIN_POOLED);
});
