/**
 * Every subcommand has its own --help with an example (not the whole role's help), and a bad
 * NC_LOG_LEVEL names the environment variable as well as the flag.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { run } from "../_fixtures/stack.ts";

Deno.test("each subcommand's --help is its own, with an example", async () => {
  for (
    const cmd of [
      ["agent", "enroll"],
      ["agent", "run"],
      ["agent", "claim"],
      ["tunnel", "open"],
      ["tunnel", "run"],
      ["tunnel", "status"],
    ]
  ) {
    const r = await run([...cmd, "--help"]);
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.startsWith(`connector ${cmd.join(" ")} — `), r.stdout.slice(0, 80));
    assertStringIncludes(r.stdout, "Example:");
    assert(!r.stdout.includes("Service commands"), `${cmd.join(" ")}: the whole role's help`);
  }
});

Deno.test("an invalid NC_LOG_LEVEL names the variable", async () => {
  const r = await run(["agent", "run", "--state", "/nonexistent"], { NC_LOG_LEVEL: "loud" });
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "NC_LOG_LEVEL");
  assertStringIncludes(r.stderr, '"loud"');
});
