// libc through FFI: the library of each OS, opened once for the process and shared by the
// open-file limit and the transport's socket calls.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { libcPath, openLibc } from "../../../src/shared/libc.ts";
import { openFileLimit } from "../../../src/shared/open_files.ts";

Deno.test("libc: the C library of each OS; none on Windows", () => {
  assertEquals(
    (["linux", "darwin", "windows"] as const).map((os) => libcPath(os)),
    ["libc.so.6", "libSystem.B.dylib", null],
  );
});

Deno.test("libc: opened once, and the limit reads through the same handle", () => {
  if (libcPath() === null) return;
  const lib = openLibc();
  assert(lib === openLibc(), "one handle for the process");
  const lim = new BigUint64Array(2);
  assertEquals(lib.symbols.getrlimit(Deno.build.os === "linux" ? 7 : 8, lim), 0);
  assertEquals(openFileLimit(), Math.min(Number(lim[0]), Number.MAX_SAFE_INTEGER));
  // The open-file limit no longer closes what the transport holds.
  assert(lib === openLibc());
  assertEquals(lib.symbols.getrlimit(Deno.build.os === "linux" ? 7 : 8, lim), 0);
});
