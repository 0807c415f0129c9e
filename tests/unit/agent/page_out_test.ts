// Giving an idle agent's executable pages back (page_out.ts): which mappings are advised, and the
// effect on a real process — a deno on an executable of its own (as a site PC's agent), whose
// resident executable pages must drop.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { fileMappings } from "../../../src/agent/page_out.ts";
import { inTempDir } from "../../_fixtures/temp_dir.ts";

Deno.test("page-out advises private mappings of real files only", () => {
  const maps = [
    "55d0c0000000-55d0c0200000 r--p 00000000 fd:00 1234 /usr/bin/deno",
    "55d0c0200000-55d0c4000000 r-xp 00200000 fd:00 1234 /usr/bin/deno",
    "7f0000000000-7f0000001000 rw-p 00000000 00:00 0 ",
    "7f0000100000-7f0000200000 rw-p 00000000 00:00 0 [heap]",
    "7f0000300000-7f0000301000 rw-s 00000000 fd:00 99 /tmp/shared.db-shm",
    "7f0000400000-7f0000401000 rw-s 00000000 00:05 7 /dev/zero (deleted)",
    "7f0000500000-7f0000600000 r-xp 00000000 fd:00 55 /usr/lib/x86_64-linux-gnu/libc.so.6",
    "7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]",
    "7f0000700000-7f0000701000 r--p 00000000 00:05 8 /dev/dri/card0",
  ].join("\n");
  assertEquals(fileMappings(maps), [
    { start: 0x55d0c0000000n, length: 0x200000n },
    { start: 0x55d0c0200000n, length: 0x3e00000n },
    { start: 0x7f0000500000n, length: 0x100000n },
  ]);
});

Deno.test("page-out gives a real process's executable pages back", async () => {
  await inTempDir(async (dir) => {
    // An executable of its own: pages another process maps too are not reclaimed.
    const exec = `${dir}/deno`;
    await Deno.copyFile(Deno.execPath(), exec);
    const module = new URL("../../../src/agent/page_out.ts", import.meta.url).href;
    const out = await new Deno.Command(exec, {
      args: [
        "eval",
        `const { pageOutExecutable } = await import(${JSON.stringify(module)});
         await import("node:http2"); await import("node:tls"); // touch the runtime's layers
         console.log(JSON.stringify(pageOutExecutable()));`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const r = JSON.parse(text);
    assert(typeof r === "object", `not paged out: ${text}`);
    assert(r.mappings > 0);
    assert(
      r.fileKiBAfter < r.fileKiBBefore / 2,
      `resident executable pages ${r.fileKiBBefore} → ${r.fileKiBAfter} KiB`,
    );
  });
});
