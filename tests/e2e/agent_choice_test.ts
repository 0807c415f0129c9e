// Sticky with failover (guide §4), end to end through the real processes: with two agents in one
// site, a handle's tunnels all go through the agent it was pinned to on first use; when that
// agent dies, the next tunnels go through the other agent of the site and still carry bytes; when
// the pinned agent comes back, the handle goes back to it (the pin stays for the handle's life).
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import {
  echoServer,
  echoThrough,
  type Proc,
  randomBytes,
  sha256,
  Stack,
  TunnelRefused,
} from "../_fixtures/stack.ts";

/** The agent id a running agent process announces in its "agent starting" line. */
async function agentIdOf(p: Proc): Promise<string> {
  const id = JSON.parse(await p.waitFor(/"agent starting"/)).agent;
  assert(typeof id === "string" && id.length > 0, `no agent id in "agent starting": ${id}`);
  return id;
}

Deno.test("two agents in a site: the handle sticks to its pinned agent, fails over, and comes back", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    const handle = q.device.handles[echo.port];

    // Two agents in the same site, each enrolled with its own one-shot token.
    const second = await stack.admin<{ token: string }>(
      "enroll-token",
      "--tenant",
      q.tenantId,
      "--site",
      q.siteId,
    );
    const e1 = await stack.enroll(q.enrollmentToken, "agent-one");
    assertEquals(e1.code, 0, e1.stderr);
    const e2 = await stack.enroll(second.token, "agent-two");
    assertEquals(e2.code, 0, e2.stderr);
    const procs = new Map<string, { proc: Proc; state: string }>();
    for (const e of [e1, e2]) {
      const proc = await stack.runAgent(e.state);
      procs.set(await agentIdOf(proc), { proc, state: e.state });
    }
    assertEquals(procs.size, 2, "the two agents have distinct ids");

    // Opens one tunnel, echoes a little data through it and closes it; returns how long the open
    // took. A 503 "agent reconnecting" is retried for up to `retryMs` (the cloud noticing a dead
    // agent); anything else fails the test.
    let round = 0;
    const tunnelOnce = async (retryMs = 0): Promise<number> => {
      const started = performance.now();
      for (;;) {
        try {
          const ws = await stack.openTunnel(handle, q.apiToken);
          const opened = performance.now() - started;
          const data = randomBytes(4096 + round++);
          const r = await echoThrough(ws, data);
          assertEquals(r.received.byteLength, data.byteLength);
          assertEquals(await sha256(r.received), await sha256(data));
          assertEquals(r.code, 1000);
          assertEquals(r.reason, "device closed the connection");
          return opened;
        } catch (e) {
          const retryable = e instanceof TunnelRefused && e.status === 503 &&
            e.body.message === "agent reconnecting";
          if (!retryable || performance.now() - started > retryMs) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };

    // Which agent served each tunnel, oldest first, as the audit log tells an auditor.
    const servedBy = async (): Promise<string[]> => {
      const { entries } = await stack.admin<{ entries: { detail: { agent: string } }[] }>(
        "audit",
        "--tenant",
        q.tenantId,
        "--action",
        "tunnel.open",
        "--limit",
        "1000",
      );
      return entries.map((e) => e.detail.agent).reverse();
    };

    // A tunnel held open (bytes echoed, no half-close) so its agent carries one active stream.
    const holdOne = async () => {
      const ws = await stack.openTunnel(handle, q.apiToken);
      const closed = new Promise<{ code: number; reason: string }>((r) =>
        ws.on(
          "close",
          (code: number, reason: Uint8Array) =>
            r({ code, reason: new TextDecoder().decode(reason) }),
        )
      );
      const got = new Promise<void>((r) => ws.once("message", () => r()));
      ws.send(new TextEncoder().encode("hold"), { binary: true });
      await got;
      return { ws, closed };
    };

    const N = 5;

    // 1. Both online and idle: the first open picks the least-loaded agent (a tie, so the lower
    // agent id) and pins the handle to it. That tunnel stays open, so the pinned agent is now the
    // busier one; every later tunnel still goes to it — the pin, not the load, decides.
    const held1 = await holdOne();
    for (let i = 0; i < N; i++) await tunnelOnce();
    const phase1 = await servedBy();
    assertEquals(phase1.length, 1 + N);
    const pinned = phase1[0];
    const [lower, higher] = [...procs.keys()].sort();
    assertEquals(pinned, lower, "both idle: the tie goes to the lower agent id");
    const other = higher;
    assertEquals(phase1, Array(1 + N).fill(pinned), "every tunnel went to the pinned agent");

    // 2. The pinned agent dies: its held tunnel ends as "agent disconnected"; the next tunnel opens
    // through the other agent of the site within a short retry window, and so do the ones after
    // it; the bytes still come back intact.
    await procs.get(pinned)!.proc.stop("SIGKILL");
    const failoverOpenMs = await tunnelOnce(10_000);
    assert(failoverOpenMs < 10_000, `failover took ${Math.round(failoverOpenMs)} ms`);
    assertEquals(await held1.closed, { code: 1011, reason: "agent disconnected" });
    for (let i = 1; i < N; i++) await tunnelOnce();
    const phase2 = (await servedBy()).slice(1 + N);
    assertEquals(phase2, Array(N).fill(other), "with the pinned agent gone, the other one serves");

    // 3. The pinned agent comes back (same state, same id): the handle goes back to it and stays
    // there even while it is the busier agent of the two — the pin outlived the failover.
    const back = await stack.runAgent(procs.get(pinned)!.state);
    assertEquals(await agentIdOf(back), pinned);
    const held3 = await holdOne();
    for (let i = 0; i < N; i++) await tunnelOnce();
    const all = await servedBy();
    assertEquals(all.length, 3 * N + 2);
    assertEquals(all.slice(2 * N + 1), Array(N + 1).fill(pinned), "back on the pinned agent");
    held3.ws.close();
    await held3.closed;
    assertEquals(echo.accepted(), 3 * N + 2);
  } finally {
    await stack.stop();
  }
});

Deno.test("a first open that fails does not pin the handle to that agent", async () => {
  const stack = await Stack.start();
  try {
    // A device port where nothing listens.
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (probe.addr as Deno.NetAddr).port;
    probe.close();
    const q = await stack.quickstart([port]);
    await stack.agentFor(q);
    const handle = q.device.handles[port];
    const refused = await stack.openTunnel(handle, q.apiToken).catch((e) => e as TunnelRefused);
    assert(refused instanceof TunnelRefused);
    assertEquals(refused.status, 502);
    const db = new DatabaseSync(`${stack.dataDir}/connector.db`, { readOnly: true });
    const row = db.prepare("SELECT agent_id FROM handles WHERE id = ?").get(handle) as {
      agent_id: string | null;
    };
    db.close();
    assertEquals(row.agent_id, null);
  } finally {
    await stack.stop();
  }
});
