import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { isOutOfDescriptors, openDescriptors } from "../../../src/shared/open_files.ts";

Deno.test("open files: the limit as the process has it, and the descriptors it holds", async () => {
  // Deno raises the soft limit to the hard one when it starts: 200:300 reads 300.
  const code = `import { openFileLimit, openDescriptors } from ${
    JSON.stringify(new URL("../../../src/shared/open_files.ts", import.meta.url).href)
  }; console.log(JSON.stringify([openFileLimit(), openDescriptors()]));`;
  const r = await new Deno.Command("prlimit", {
    args: ["--nofile=200:300", "--", Deno.execPath(), "eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  const [limit, open] = JSON.parse(new TextDecoder().decode(r.stdout));
  assertEquals(limit, 300);
  assert(open > 2 && open < 100, `descriptors: ${open}`);
  const before = openDescriptors()!;
  const f = Deno.openSync(import.meta.filename!);
  assertEquals(openDescriptors(), before + 1);
  f.close();
});

Deno.test("open files: EMFILE and ENFILE are running out of descriptors; other errors are not", () => {
  assert(isOutOfDescriptors(new Error("Too many open files (os error 24)")));
  assert(isOutOfDescriptors(new Error("Too many open files in system (os error 23)")));
  assert(!isOutOfDescriptors(new Error("Address already in use (os error 98)")));
  assert(!isOutOfDescriptors(new Error("Connection reset by peer (os error 104)")));
});
