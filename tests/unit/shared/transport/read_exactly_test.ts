// A fixed-size handshake piece read whole from a stream that hands it over in bits, and nothing
// of what follows; null when the stream ends first.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { readExactly } from "../../../../src/shared/transport/read_exactly.ts";

/** A stream that hands over `chunks` one at a time, as a socket may. */
function chunked(chunks: number[][]) {
  return {
    read(p: Uint8Array): Promise<number | null> {
      const c = chunks.shift();
      if (!c) return Promise.resolve(null);
      const n = Math.min(c.length, p.length);
      p.set(c.slice(0, n));
      if (n < c.length) chunks.unshift(c.slice(n));
      return Promise.resolve(n);
    },
  };
}

Deno.test("readExactly: whole across reads, never past n; null at an early end", async () => {
  const s = chunked([[1], [2, 3], [4, 5, 6]]);
  assertEquals(await readExactly(s, 4), new Uint8Array([1, 2, 3, 4]));
  assertEquals(await readExactly(s, 2), new Uint8Array([5, 6]));
  assertEquals(await readExactly(chunked([[1, 2]]), 3), null);
});
