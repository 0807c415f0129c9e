// A log file that rotates while the program runs: real files in a temp dir, a small limit.
import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { LogFile } from "../../../src/shared/log_file.ts";
import { inTempDir } from "../../_fixtures/temp_dir.ts";

const enc = new TextEncoder();
const line = (i: number) => `line ${String(i).padStart(4, "0")} ${"x".repeat(40)}\n`;

Deno.test("a log file rotates while running, at line boundaries, and stays bounded", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/logs/agent.log`;
    const f = LogFile.open(path, 1000); // creates logs/
    for (let i = 0; i < 200; i++) f.writeSync(enc.encode(line(i)));
    f.close();
    const cur = await Deno.readTextFile(path);
    const old = await Deno.readTextFile(`${path}.1`);
    // Each file is under the limit plus one line, and each holds whole lines.
    for (const text of [cur, old]) {
      assert(text.length <= 1000 + line(0).length, `${text.length} bytes`);
      assert(text.endsWith("\n") && /^line \d{4} x+$/m.test(text));
      for (const l of text.trimEnd().split("\n")) assertEquals(l.length, line(0).length - 1, l);
    }
    // The newest lines, in order, the last rotation's before them.
    assertStringIncludes(cur, line(199));
    const all = (old + cur).trimEnd().split("\n").map((l) => Number(l.slice(5, 9)));
    assertEquals(all, all.map((_, k) => all[0] + k), "consecutive");
  });
});

Deno.test("a line written in pieces is never split across the rotation", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/agent.log`;
    const f = LogFile.open(path, 100);
    for (let i = 0; i < 20; i++) {
      const bytes = enc.encode(line(i));
      f.writeSync(bytes.subarray(0, 10)); // a short write, finished next (as LogSink does)
      f.writeSync(bytes.subarray(10));
    }
    f.close();
    for (const p of [path, `${path}.1`]) {
      for (const l of (await Deno.readTextFile(p)).trimEnd().split("\n")) {
        assertEquals(l.length, line(0).length - 1, `${p}: ${l}`);
      }
    }
  });
});

Deno.test("a file over the limit at start is moved aside", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/agent.log`;
    await Deno.writeTextFile(path, "old\n".repeat(100));
    const f = LogFile.open(path, 100);
    f.writeSync(enc.encode("new\n"));
    f.close();
    assertEquals(await Deno.readTextFile(path), "new\n");
    assertEquals(await Deno.readTextFile(`${path}.1`), "old\n".repeat(100));
  });
});

Deno.test("a log file that cannot be opened names itself", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "");
    let message = "";
    try {
      LogFile.open(`${dir}/file/agent.log`);
    } catch (e) {
      message = (e as Error).message;
    }
    assertStringIncludes(message, `cannot open the log file ${dir}/file/agent.log: `);
  });
});
