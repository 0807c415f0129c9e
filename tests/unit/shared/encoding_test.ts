/**
 * The encodings HTTP heads are read and written with: Latin-1 one character per byte, as node:http
 * reads heads (not `TextDecoder("latin1")`, which is windows-1252), short and long runs alike,
 * and UTF-8 whose ASCII fast path gives exactly TextEncoder's bytes.
 */
import { assertEquals } from "../../_fixtures/assert.ts";
import { latin1, utf8 } from "../../../src/shared/encoding.ts";

Deno.test("latin1: every byte is one character (0x80–0x9F too), short and long alike", () => {
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  const short = latin1(all);
  assertEquals(short.length, 256);
  for (let i = 0; i < 256; i++) assertEquals(short.charCodeAt(i), i);
  const long = new Uint8Array(5_000).map((_, i) => (i * 7) & 0xff);
  const text = latin1(long);
  assertEquals(text.length, 5_000);
  for (let i = 0; i < long.length; i++) assertEquals(text.charCodeAt(i), long[i]);
  assertEquals(latin1(new Uint8Array(0)), "");
});

Deno.test("utf8: the same bytes as TextEncoder for ASCII, non-ASCII and long text", () => {
  const enc = new TextEncoder();
  for (
    const s of [
      "",
      "GET /c/abc/ HTTP/1.1\r\nHost: x\r\n\r\n",
      'Content-Disposition: attachment; filename="caméra.jpg"',
      "名前: 値",
      "x".repeat(10_000),
      "emoji 📷 at the end",
    ]
  ) {
    assertEquals(utf8(s), enc.encode(s), s.slice(0, 40));
  }
});
