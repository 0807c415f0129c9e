/**
 * The first minutes of a new cloud: `connector cloud` prints where the web UI is, and
 * `cloud admin quickstart --password-stdin` makes an admin who can sign in to it.
 */
import { assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";

Deno.test("quickstart with --password-stdin: the admin signs in to the web UI", async () => {
  const stack = await Stack.start();
  try {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../../src/main.ts", import.meta.url).pathname,
        "cloud",
        "admin",
        "quickstart",
        "--email",
        "first@example.com",
        "--password-stdin",
        "--data-dir",
        stack.dataDir,
        "--json",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode("correct horse battery\n"));
    await w.close();
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const cookie = await stack.signIn("first@example.com", "correct horse battery");
    const home = await fetch(`${stack.url}/`, { headers: { cookie } });
    assertEquals(home.status, 200);
    assertStringIncludes(await home.text(), "Dashboard");
  } finally {
    await stack.stop();
  }
});
