/**
 * Issue 11, finding 7, against the real cloud process: a TCP connection to the data port that
 * never sends a ClientHello is closed within the bound (10 s for handshake + preface), and the
 * cloud process really lets go of its socket — checked with `ss`, which names the process that
 * owns each socket (before the fix the socket stayed, seen at 194 s). And a data connection the
 * network drops (`ss -K` resets it) ends its tunnels with a reason the operator sees, and the
 * agent's pool comes back for the next tunnel.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { closedPort, echoServer, echoThrough, Stack, TunnelRefused } from "../_fixtures/stack.ts";

/** The cloud's own sockets on `port` whose peer port is `peer` (any state), from `ss -p`. */
async function cloudSockets(pid: number, port: number, peer: number): Promise<string[]> {
  const out = await new Deno.Command("ss", {
    args: ["-Htanp", `( sport = :${port} )`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((l) => l.includes(`pid=${pid},`) && l.includes(`:${peer} `));
}

Deno.test("finding 7: a silent connection to the data port is closed within the bound and the cloud releases its socket", async () => {
  const stack = await Stack.start();
  try {
    const pid = stack.cloud.child.pid;
    const t0 = Date.now();
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.data });
    const peer = (silent.localAddr as Deno.NetAddr).port;
    // Held while it may still speak.
    for (let i = 0; i < 50 && (await cloudSockets(pid, stack.ports.data, peer)).length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals((await cloudSockets(pid, stack.ports.data, peer)).length, 1);
    // The cloud ends it: the client reads the end of stream (a generous bound: 10 s + slack).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const end = await Promise.race([
      silent.read(new Uint8Array(1)).catch(() => null),
      new Promise<"still open">((r) => (timer = setTimeout(() => r("still open"), 30_000))),
    ]);
    clearTimeout(timer);
    assertEquals(end, null);
    const waited = Date.now() - t0;
    assert(waited >= 9_000, `closed after ${waited} ms, before the 10 s bound`);
    silent.close();
    // No socket of the cloud process is left for that connection.
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = await cloudSockets(pid, stack.ports.data, peer);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assertEquals(left, []);
  } finally {
    await stack.stop();
  }
});

Deno.test("a data connection reset by the network closes its tunnels with 1011 'agent disconnected'; the pool reconnects and new tunnels work", async () => {
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    const wss = await Promise.all([1, 2].map(() => stack.openTunnel(handle, q.apiToken)));
    const closes = wss.map((ws) =>
      new Promise<{ code: number; reason: string }>((r) =>
        ws.on(
          "close",
          (code: number, reason: Uint8Array) =>
            r({ code, reason: new TextDecoder().decode(reason) }),
        )
      )
    );
    // Reset every established connection on the cloud's data port (the agent's pool).
    const kill = await new Deno.Command("ss", {
      args: ["-K", "-tn", `( sport = :${stack.ports.data} )`],
      stdout: "null",
      stderr: "null",
    }).output();
    assertEquals(kill.code, 0);
    for (const c of await Promise.all(closes)) {
      assertEquals([c.code, c.reason], [1011, "agent disconnected"]);
    }
    await agent.waitFor(/"data connection closed"/);
    // The cloud asked for a replacement, the agent dialed it: a new tunnel carries bytes.
    const data = crypto.getRandomValues(new Uint8Array(64 << 10));
    const out = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
    assertEquals(out.received, data);
  });
});

Deno.test("an agent whose data port is blocked: the open is refused with 502 saying why, not 'agent reconnecting' at its deadline", async () => {
  // The data port as a site firewall that rejects it leaves it: the cloud advertises a port
  // nothing listens on (what --data-public-port is for, pointed wrong on purpose).
  const blocked = closedPort();
  const stack = await Stack.start({
    cloudArgs: ["--data-public-port", String(blocked), "--tunnel-open-timeout", "2m"],
  });
  try {
    const echo = await echoServer();
    stack.defer(echo.close);
    const q = await stack.quickstart([echo.port]);
    const { agent, health } = await stack.agentWithHealth(q);
    const refused = await stack.openTunnel(q.device.handles[echo.port], q.apiToken).then(
      () => null,
      (e: unknown) => e,
    );
    assert(refused instanceof TunnelRefused, String(refused));
    assertEquals(refused.status, 502);
    assertEquals(refused.body.error, "agent_data_unreachable");
    const message = refused.body.message ?? "";
    assert(message.startsWith("the agent is online but cannot open a data connection"), message);
    assert(message.includes(`127.0.0.1:${blocked}: `), message);
    assert(/refused/i.test(message), message);
    // Both ends say so in their logs.
    await agent.waitFor(/"data connection to the cloud failed"/);
    await stack.cloud.waitFor(/"agent could not open a data connection"/);
    // A second open fails the same way; the tenant's inbox has one agent.data_blocked for both.
    const second = await stack.openTunnel(q.device.handles[echo.port], q.apiToken).then(
      () => null,
      (e: unknown) => e,
    );
    assertEquals((second as TunnelRefused).body.error, "agent_data_unreachable");
    const inbox = await fetch(`${stack.url}/api/events`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    }).then((r) => r.json());
    const blockedEvents = (inbox.items as {
      type: string;
      subject: { agentId?: string; siteId?: string };
      detail: { error?: string };
    }[]).filter((e) => e.type === "agent.data_blocked");
    assertEquals(blockedEvents.length, 1, JSON.stringify(inbox.items));
    assertEquals(blockedEvents[0].subject.siteId, q.siteId);
    assert(blockedEvents[0].subject.agentId, "the event names the agent");
    assert(blockedEvents[0].detail.error?.includes(`127.0.0.1:${blocked}: `), inbox.items);
    // The agent's readiness probe and metrics say so too (it carries no tunnel).
    const ready = await fetch(`http://127.0.0.1:${health}/healthz/ready`);
    assertEquals(ready.status, 503);
    const readyBody = await ready.json();
    assertEquals([readyBody.controlStream, readyBody.dataChannel], ["up", "blocked"]);
    assert(String(readyBody.reason).includes(`127.0.0.1:${blocked}: `), readyBody.reason);
    const scrape = await (await fetch(`http://127.0.0.1:${health}/metrics`)).text();
    assert(scrape.includes("\nconnector_agent_data_blocked 1\n"), scrape);
    // The console and the API show the agent online with its data channel blocked, and why.
    const agents = await fetch(`${stack.url}/api/agents`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    }).then((r) => r.json());
    const row = agents.items[0] as { online: boolean; dataBlocked: string | null };
    assertEquals(row.online, true);
    assert(row.dataBlocked?.includes(`127.0.0.1:${blocked}: `), JSON.stringify(row));
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(viewer.email, viewer.password);
    const html = await (await fetch(`${stack.url}/sites/${q.siteId}`, { headers: { cookie } }))
      .text();
    assert(html.includes("data channel blocked: no tunnel reaches this site"), html);
  } finally {
    await stack.stop();
  }
});
