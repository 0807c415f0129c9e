/**
 * An agent stopped with SIGTERM and started again while operators keep opening tunnels: every
 * open that starts once the new agent is up — at once and for the next half minute — must succeed
 * (a 10-minute soak saw tunnel opens answered 504 "device did not respond in time" half a
 * minute after such a restart). Opens that meet the agent while it is down may be refused.
 * @module
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoThrough, randomBytes, sha256, Stack } from "../_fixtures/stack.ts";

interface Attempt {
  start: number;
  end: number;
  error: string | null;
}

Deno.test("agent SIGTERM restarts: opens right after and later all succeed", async () => {
  await Stack.withEchoSite(async ({ stack, q, handle, agent }) => {
    const attempts: Attempt[] = [];
    let stop = false;
    const once = async () => {
      const start = Date.now();
      try {
        const data = randomBytes((16 << 10) + Math.floor(Math.random() * (256 << 10)));
        const ws = await stack.openTunnel(handle, q.apiToken);
        const r = await echoThrough(ws, data, 16 << 10);
        assertEquals(await sha256(r.received), await sha256(data), `close ${r.code} ${r.reason}`);
        attempts.push({ start, end: Date.now(), error: null });
      } catch (e) {
        attempts.push({ start, end: Date.now(), error: String((e as Error).message ?? e) });
      }
    };
    const worker = async () => {
      while (!stop) await once();
    };
    const workers = [worker(), worker(), worker()];
    const ups: { down: number; up: number }[] = [];
    let current = agent;
    try {
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 5_000));
        const down = Date.now();
        assertEquals((await current.stop("SIGTERM")).code, 0, current.lines.slice(-5).join("\n"));
        current = await stack.runAgent(`${stack.dir}/agent-1`);
        const up = Date.now();
        ups.push({ down, up });
        // At once: the first opens after the agent is back.
        await Promise.all([once(), once()]);
      }
      // And for a while after the last restart.
      await new Promise((r) => setTimeout(r, 30_000));
    } finally {
      stop = true;
      await Promise.all(workers);
    }
    const bad = attempts.filter((a) =>
      a.error !== null && !ups.some((w) => a.start <= w.up && a.end >= w.down)
    );
    const summary = ups.map((w) =>
      `down ${w.down} up ${w.up}: ` +
      attempts.filter((a) => a.start >= w.up && a.end - w.up < 60_000).length + " opens after"
    );
    assert(attempts.filter((a) => a.error === null).length > 20, summary.join("\n"));
    // On failure, what the cloud said about data connections is the first thing to read.
    const cloudSaid = stack.cloud.lines.filter((l) =>
      /data connection|placed again|agent (dis)?connected/.test(l)
    )
      .slice(-20);
    assertEquals(
      bad.map((a) => `${a.start - ups[0].down} ms +${a.end - a.start} ms: ${a.error}`),
      [],
      [...summary, ...cloudSaid].join("\n"),
    );
  });
});
