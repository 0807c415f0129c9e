import { assertEquals } from "../../../_fixtures/assert.ts";
import { LARGE_READ, nextReadSize, SMALL_READ } from "../../../../src/shared/transport/pipe.ts";

Deno.test("read buffers: small while quiet, large while bulk flows, small again after", () => {
  assertEquals(nextReadSize(SMALL_READ, 5), SMALL_READ); // a keystroke
  assertEquals(nextReadSize(SMALL_READ, SMALL_READ), LARGE_READ); // filled: bulk
  assertEquals(nextReadSize(LARGE_READ, 16 << 10), LARGE_READ); // a TLS record: stay large
  assertEquals(nextReadSize(LARGE_READ, 100), SMALL_READ); // tiny again: shrink
});
