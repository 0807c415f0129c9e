// The disk under an agent's log file fills up (`--log-file`, the only log a Windows service
// has). Every later log call failed and threw, and the agent died of its log, at the next line
// it wrote. Run here under a file-size limit (what a full disk does to every file it writes,
// without mounting one; SIGXFSZ ignored, so the write fails as ENOSPC does): the log fills while
// the agent connects and opens tunnels, and it goes on serving them.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoThrough, Proc, Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { fullDiskAt } from "../_fixtures/full_disk.ts";

/** Room for the first lines (the control stream coming up), not for what follows. */
const LOG_LIMIT = 1500;

Deno.test("an agent whose log file cannot grow keeps serving tunnels", async () => {
  let log = "";
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    let exited = false;
    agent.exited.then(() => (exited = true));
    await until(
      "the agent's control stream up (in its log)",
      async () => (await Deno.readTextFile(log).catch(() => "")).includes("control stream up"),
      20_000,
    );
    for (let i = 0; i < 10; i++) {
      const data = new TextEncoder().encode(`round ${i} `.repeat(100));
      const r = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
      assertEquals(r.received.byteLength, data.byteLength, `tunnel ${i}`);
    }
    assertEquals((await Deno.stat(log)).size, LOG_LIMIT, "the log is full");
    assert(!exited, `the agent exited: ${agent.lines.slice(-5).join("\n")}`);
  }, {
    runAgent: (stack, state) => {
      log = `${stack.dir}/agent.log`;
      const agent = new Proc(
        ["agent", "run", "--state", state, "--log-file", log, "--log-level", "debug"],
        {},
        fullDiskAt(LOG_LIMIT),
      );
      stack.agents.push(agent);
      return Promise.resolve(agent);
    },
  });
});
