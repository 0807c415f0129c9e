// Secrets from flags: typed values are spotted (for the warning), "-" and files are not.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { commandLineWarning, onCommandLine, readSecret } from "../../../src/shared/secret_input.ts";

Deno.test("secret input: a value typed on the command line is spotted, stdin and env are not", async () => {
  assert(onCommandLine(["run", "--token", "ops_x"], "token"));
  assert(onCommandLine(["--token=ops_x"], "token"));
  assert(!onCommandLine(["--token", "-"], "token"));
  assert(!onCommandLine(["--token=-"], "token"));
  assert(!onCommandLine(["--token-file", "f"], "token"));
  assert(!onCommandLine(["--", "--token", "x"], "token"));
  const warned: string[] = [];
  const warn = (l: string) => warned.push(l);
  const base = { flag: "token", env: "NC_TOKEN", file: undefined };
  assertEquals(await readSecret({ ...base, value: "t1", argv: [] }, warn), "t1");
  assertEquals(warned, [], "from the environment: no warning");
  assertEquals(await readSecret({ ...base, value: "t2", argv: ["--token", "t2"] }, warn), "t2");
  assertEquals(warned, [commandLineWarning("token", "NC_TOKEN")]);
  assert(!warned[0].includes("t2"), "the warning never repeats the secret");
  const file = await Deno.makeTempFile();
  await Deno.writeTextFile(file, "  t3\n");
  assertEquals(await readSecret({ ...base, value: undefined, file, argv: [] }, warn), "t3");
  await Deno.remove(file);
  assertEquals(await readSecret({ ...base, value: undefined, argv: [] }, warn), null);
});
