import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { isOutOfDescriptors } from "../../../src/shared/open_files.ts";

Deno.test("open files: the limit as the process has it, and the descriptors it holds", async () => {
  // Deno raises the soft limit to the hard one when it starts: 200:300 reads 300.
  // Counted in a process of its own: this one runs other test files' sockets meanwhile.
  const code =
    `import { openFileLimit, openDescriptors } from ${
      JSON.stringify(new URL("../../../src/shared/open_files.ts", import.meta.url).href)
    }; const open = openDescriptors(); const f = Deno.openSync(${
      JSON.stringify(import.meta.filename!)
    }); const more = openDescriptors(); f.close();` +
    ` console.log(JSON.stringify([openFileLimit(), open, more]));`;
  const r = await new Deno.Command("prlimit", {
    args: ["--nofile=200:300", "--", Deno.execPath(), "eval", code],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  const [limit, open, more] = JSON.parse(new TextDecoder().decode(r.stdout));
  assertEquals(limit, 300);
  assert(open > 2 && open < 100, `descriptors: ${open}`);
  assertEquals(more, open + 1, "a file opened is one more descriptor");
});

Deno.test("open files: EMFILE and ENFILE are running out of descriptors; other errors are not", () => {
  assert(isOutOfDescriptors(new Error("Too many open files (os error 24)")));
  assert(isOutOfDescriptors(new Error("Too many open files in system (os error 23)")));
  assert(!isOutOfDescriptors(new Error("Address already in use (os error 98)")));
  assert(!isOutOfDescriptors(new Error("Connection reset by peer (os error 104)")));
});
