// A cloud node started where one of its ports is taken (another program, or a second cloud on
// the same machine): the real `connector cloud` exits 1 with one line naming the flag, the
// address and how to find the holder — for each of its six listeners, the control listener's
// own process included. It said "Address already in use (os error 98)", or for the control
// listener only that it "did not start".
import { assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { run } from "../_fixtures/stack.ts";

Deno.test("a port taken: each listener's flag and address named, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-ports-" });
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    for (const flag of ["http", "control", "data", "internal", "rtsp", "metrics"]) {
      const free = ["http", "control", "data", "internal", "rtsp"].flatMap((f) =>
        f === flag ? [] : [`--${f}`, "127.0.0.1:0"]
      );
      const r = await run([
        "cloud",
        "--data-dir",
        dir,
        ...free,
        `--${flag}`,
        `127.0.0.1:${port}`,
      ]);
      assertEquals(r.code, 1, `${flag}: ${r.stderr}`);
      const last = r.stderr.trim().split("\n").at(-1)!;
      assertStringIncludes(
        last,
        `error: cannot listen on 127.0.0.1:${port} (--${flag}): the address is already in use`,
      );
      assertStringIncludes(last, `ss -ltnp 'sport = :${port}'`);
      assertEquals(r.stderr.includes("os error"), false, r.stderr);
    }
  } finally {
    held.close();
    await Deno.remove(dir, { recursive: true });
  }
});
