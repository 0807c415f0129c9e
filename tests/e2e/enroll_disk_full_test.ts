// A site PC whose disk is full while the installer enrolls (`connector agent enroll`, the real
// process, under a file-size limit — what a full disk does to every file it writes, without
// mounting one). First the key itself cannot be written: enrollment stops before the token is
// sent, and says the token is unused. Then the key fits and what the cloud answers does not: the
// cloud has spent the one-shot token, and the command says to run it again. Run again with room,
// it gets the same agent (the same key proves it is the same machine), which then connects.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { fullDiskAt } from "../_fixtures/full_disk.ts";

const MAIN = new URL("../../src/main.ts", import.meta.url).pathname;

/** `connector agent enroll` with the token on stdin's stand-in (NC_ENROLL_TOKEN), under `limit`. */
async function enrollUnder(limit: number | null, stack: Stack, token: string, state: string) {
  const args = [Deno.execPath(), "run", "-A", MAIN, "agent", "enroll", "--cloud", stack.url];
  const argv = limit === null ? args : fullDiskAt(limit).concat(args);
  const out = await new Deno.Command(argv[0], {
    args: [...argv.slice(1), "--state", state],
    env: { NO_COLOR: "1", NC_ENROLL_TOKEN: token },
    stdin: "null",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("enrolling on a full disk: nothing spent when the key cannot be written; the same command again once there is room", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([80]);
    const state = `${stack.dir}/site-pc`;

    // The key (241 bytes) cannot be written: stopped before the token leaves the machine.
    const noKey = await enrollUnder(100, stack, q.enrollmentToken, state);
    assertEquals(noKey.code, 1, noKey.stderr);
    assertStringIncludes(noKey.stderr, "cannot write this agent's key in");
    assertStringIncludes(noKey.stderr, "Nothing was sent and the token is unused");
    const before = await stack.admin<{ agents: unknown[] }>(
      "agent",
      "list",
      "--tenant",
      q.tenantId,
    );
    assertEquals(before.agents.length, 0, "the token was not spent");

    // The key fits, the certificate (about 650 bytes) does not: the token is spent now.
    const noCert = await enrollUnder(400, stack, q.enrollmentToken, state);
    assertEquals(noCert.code, 1, noCert.stderr);
    const id =
      /the cloud enrolled this machine as (ag-[A-Za-z0-9_-]+), but its identity cannot be saved/
        .exec(noCert.stderr)?.[1];
    assert(id, noCert.stderr);
    assertStringIncludes(noCert.stderr, "run the same command again");

    // Room again: the same command, the same token, the same machine's key → the same agent.
    const again = await enrollUnder(null, stack, q.enrollmentToken, state);
    assertEquals(again.code, 0, again.stderr);
    assertStringIncludes(again.stderr, "using this agent's private key from the earlier attempt");
    assertStringIncludes(again.stderr, `enrolled as ${id} `);
    const after = await stack.admin<{ agents: { id: string }[] }>(
      "agent",
      "list",
      "--tenant",
      q.tenantId,
    );
    assertEquals(after.agents.map((a) => a.id), [id]);
    await stack.runAgent(state); // waits for "control stream up"

    // Another machine with the same token is refused as before.
    const other = await enrollUnder(null, stack, q.enrollmentToken, `${stack.dir}/other-pc`);
    assertEquals(other.code, 1);
    assertStringIncludes(other.stderr, "already been used");
  } finally {
    await stack.stop();
  }
});
