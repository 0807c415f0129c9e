// Clipping untrusted strings before they are stored or logged, and making a peer's names printable.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { clip, clipDeep, printable } from "../../../src/shared/clip.ts";

Deno.test("clip: long strings cut with a marker, nested values too, other objects untouched", () => {
  assertEquals(clip("short"), "short");
  const long = clip("x".repeat(1000));
  assertEquals(long, "x".repeat(256) + "…[744 more chars]");
  const deep = clipDeep({ a: ["y".repeat(300)], b: { c: "z".repeat(300), n: 5 } }) as {
    a: string[];
    b: { c: string; n: number };
  };
  assert(deep.a[0].length < 300 && deep.b.c.length < 300 && deep.b.n === 5);
  const err = new Error("e");
  assertEquals(clipDeep(err), err);
  assertEquals((clipDeep(new Array(300).fill(1)) as unknown[]).length, 257);
});

Deno.test("printable: controls, reordering marks and lone surrogates become U+FFFD; the rest stays", () => {
  assertEquals(printable("CN=cam-1, O=Acme é 漢字 😀"), "CN=cam-1, O=Acme é 漢字 😀");
  assertEquals(
    printable("a\u0000b\u001b[31mc\r\nd\u007fe\u0085f\u202eg\u2066h\ud800i"),
    "a\ufffdb\ufffd[31mc\ufffd\ufffdd\ufffde\ufffdf\ufffdg\ufffdh\ufffdi",
  );
});
