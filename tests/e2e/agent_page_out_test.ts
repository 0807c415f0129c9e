// An idle agent gives its executable's pages back (idle_trim.ts, page_out.ts): the real agent on
// an executable of its own, as on a site PC, connected and idle. Its resident executable pages
// drop to under half once it has been quiet past the page-out delay, and a tunnel opened after
// that still works.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoServer, echoThrough, randomBytes, sha256, Stack } from "../_fixtures/stack.ts";
import { IDLE_PAGE_OUT_QUIET_MS } from "../../src/agent/idle_trim.ts";

function rssFileKiB(pid: number): number {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/RssFile:\s+(\d+)/.exec(s)![1]);
}

Deno.test({
  name: "an idle agent gives its executable's pages back; a tunnel afterwards works",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const stack = await Stack.start();
    const echo = await echoServer();
    stack.defer(echo.close);
    const own = await Deno.makeTempDir({ prefix: "nc-agent-exec-" });
    stack.defer(() => Deno.remove(own, { recursive: true }));
    try {
      stack.agentExecutable = `${own}/deno`;
      await Deno.copyFile(Deno.execPath(), stack.agentExecutable);
      const q = await stack.quickstart([echo.port]);
      const e = await stack.enroll(q.enrollmentToken);
      assertEquals(e.code, 0, e.stderr);
      const agent = await stack.runAgent(e.state, true, { NC_LOG_LEVEL: "debug" });
      const handle = q.device.handles[echo.port];
      // Some work first, so the pages a tunnel needs are resident.
      const warm = await echoThrough(await stack.openTunnel(handle, q.apiToken), randomBytes(4096));
      assertEquals(warm.received.byteLength, 4096);
      const before = rssFileKiB(agent.child.pid);

      const line = await agent.waitFor(
        /"idle: executable pages given back"/,
        IDLE_PAGE_OUT_QUIET_MS + 30_000,
      );
      const after = rssFileKiB(agent.child.pid);
      assert(after < before / 2, `resident executable pages ${before} → ${after} KiB`);
      const logged = JSON.parse(line);
      assert(logged.afterMiB < logged.fileMiB / 2, line);

      const data = randomBytes(256 << 10);
      const r = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
      assertEquals(await sha256(r.received), await sha256(data));
    } finally {
      await stack.stop();
    }
  },
});
