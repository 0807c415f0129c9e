// End to end through the real processes: an operator's WebSocket tunnel carries bytes both ways
// to a TCP service on the agent's LAN, intact, with many tunnels at once; the tunnel CLI does
// the same for an ordinary TCP client.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import {
  echoThrough,
  Proc,
  randomBytes,
  sha256,
  Stack,
  TEST_ADMIN_KEY,
} from "../_fixtures/stack.ts";

Deno.test("64 MiB both ways through /api/tunnel/{handle}, then 50 tunnels at once", async () => {
  await Stack.withEchoSite(async ({ stack, echo, q }) => {
    const handle = q.device.handles[echo.port];

    const big = randomBytes(64 << 20);
    const ws = await stack.openTunnel(handle, q.apiToken);
    const r = await echoThrough(ws, big);
    assertEquals(r.received.byteLength, big.byteLength);
    assertEquals(await sha256(r.received), await sha256(big));
    assertEquals(r.code, 1000);
    assertEquals(r.reason, "device closed the connection");

    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const data = randomBytes(256 << 10 | i);
      const t = await stack.openTunnel(handle, q.apiToken);
      const out = await echoThrough(t, data);
      return (await sha256(out.received)) === (await sha256(data));
    }));
    assertEquals(results.filter(Boolean).length, 50);

    // The audit log has each tunnel's open and close with bytes each way.
    const { entries } = await stack.admin<
      { entries: { action: string; detail: Record<string, number> }[] }
    >(
      "audit",
      "--tenant",
      q.tenantId,
      "--limit",
      "200",
    );
    const closes = entries.filter((e) => e.action === "tunnel.close");
    assertEquals(closes.length, 51);
    assert(closes.some((e) => e.detail.bytesUp === 64 << 20 && e.detail.bytesDown === 64 << 20));
  });
});

Deno.test("the tunnel CLI carries a TCP client's bytes both ways, with half-close", async () => {
  await Stack.withEchoSite(async ({ stack, echo, q }) => {
    const handle = q.device.handles[echo.port];
    const cli = new Proc([
      "tunnel",
      "open",
      handle,
      "--cloud",
      stack.url,
      "--listen",
      "127.0.0.1:0",
    ], { NC_TOKEN: q.apiToken });
    stack.defer(() => cli.stop("SIGKILL"));
    const line = await cli.waitFor(/^\{"listen"/);
    const port = Number(JSON.parse(line).listen.split(":")[1]);

    const data = randomBytes(8 << 20);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const writing = (async () => {
      const w = conn.writable.getWriter();
      for (let i = 0; i < data.byteLength; i += 65536) await w.write(data.subarray(i, i + 65536));
      await conn.closeWrite();
    })();
    const got = new Uint8Array(await new Response(conn.readable).arrayBuffer());
    await writing;
    assertEquals(await sha256(got), await sha256(data));
  });
});

/** Resident memory of a process in bytes (Linux). */
async function rss(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

Deno.test("backpressure: a stalled operator stalls the device, not the cloud's or agent's memory", async () => {
  const stack = await Stack.start();
  // A "camera" that streams 256 MiB as fast as the tunnel lets it.
  const total = 256 << 20;
  let written = 0;
  const chunk = new Uint8Array(64 << 10).fill(42);
  const camera = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const serving = (async () => {
    const conn = await camera.accept();
    try {
      while (written < total) {
        written += await conn.write(chunk.subarray(0, Math.min(chunk.byteLength, total - written)));
      }
    } catch { /* the test ended early */ }
    conn.close();
  })();
  stack.defer(async () => {
    camera.close();
    await serving;
  });
  try {
    const port = (camera.addr as Deno.NetAddr).port;
    const q = await stack.quickstart([port]);
    const agent = await stack.agentFor(q);
    let received = 0;
    const ws = await stack.openTunnel(
      q.device.handles[port],
      q.apiToken,
      undefined,
      (m) => (received += m.byteLength),
    );
    ws.pause(); // the operator stops reading
    const closed = new Promise<number>((r) => ws.on("close", (code: number) => r(code)));
    await new Promise((r) => setTimeout(r, 1_000));
    const base = { cloud: await rss(stack.cloud.child.pid), agent: await rss(agent.child.pid) };
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 2_000));
    assert(written < 64 << 20, `the camera kept writing while nobody read: ${written} bytes`);
    assert(
      written - stalledAt < 8 << 20,
      `the camera was not stalled: ${written - stalledAt} more bytes`,
    );
    const cloudGrowth = (await rss(stack.cloud.child.pid)) - base.cloud;
    const agentGrowth = (await rss(agent.child.pid)) - base.agent;
    assert(cloudGrowth < 32 << 20, `cloud grew by ${cloudGrowth} bytes`);
    assert(agentGrowth < 32 << 20, `agent grew by ${agentGrowth} bytes`);
    ws.resume();
    assertEquals(await closed, 1000);
    assertEquals(received, total);
  } finally {
    await stack.stop();
  }
});

Deno.test("backpressure: a device that stops reading stalls the operator, not the agent's memory", async () => {
  const stack = await Stack.start();
  // A device that accepts and then does not read for a while.
  const device = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let devConn: Deno.Conn | null = null;
  const accepted = device.accept().then((c) => (devConn = c));
  // If the test fails before the device is dialed, closing the listener rejects the accept: that
  // must not hide the test's own error as an uncaught one.
  accepted.catch(() => {});
  stack.defer(() => {
    device.close();
    (devConn as Deno.Conn | null)?.close();
    return Promise.resolve();
  });
  try {
    const port = (device.addr as Deno.NetAddr).port;
    const q = await stack.quickstart([port]);
    const agent = await stack.agentFor(q);
    const ws = await stack.openTunnel(q.device.handles[port], q.apiToken);
    await accepted;
    const base = { cloud: await rss(stack.cloud.child.pid), agent: await rss(agent.child.pid) };
    // The operator sends as long as the tunnel takes it (ws.send's callback = written out).
    const chunk = new Uint8Array(64 << 10);
    let sent = 0;
    let stop = false;
    const sending = (async () => {
      while (!stop && sent < 512 << 20) {
        await new Promise<void>((r) => ws.send(chunk, { binary: true }, () => r()));
        sent += chunk.byteLength;
      }
    })();
    await new Promise((r) => setTimeout(r, 3_000));
    stop = true;
    const cloudGrowth = (await rss(stack.cloud.child.pid)) - base.cloud;
    const agentGrowth = (await rss(agent.child.pid)) - base.agent;
    assert(
      sent < 96 << 20,
      `the operator kept sending into a device that does not read: ${sent} bytes`,
    );
    assert(cloudGrowth < 32 << 20, `cloud grew by ${cloudGrowth} bytes`);
    assert(agentGrowth < 32 << 20, `agent grew by ${agentGrowth} bytes`);
    ws.terminate();
    await sending.catch(() => {});
  } finally {
    await stack.stop();
  }
});

Deno.test("a CLI session (ops_) opens tunnels to its sites and slides on each successful connect", async () => {
  await Stack.withEchoSite(async ({ stack, echo, q }) => {
    const res = await fetch(`${stack.url}/api/cli/sessions`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ siteIds: [q.siteId] }),
    });
    assertEquals(res.status, 201);
    const session = await res.json() as { id: string; token: string; expiresAt: number };
    await new Promise((r) => setTimeout(r, 20));
    const data = randomBytes(64 << 10);
    const out = await echoThrough(
      await stack.openTunnel(q.device.handles[echo.port], session.token),
      data,
    );
    assertEquals(await sha256(out.received), await sha256(data));
    const db = new DatabaseSync(`${stack.dataDir}/connector.db`, { readOnly: true });
    const row = db.prepare(
      "SELECT last_used_at, expires_at, hard_cap_at FROM cli_sessions WHERE hash = ?",
    )
      .get(session.id) as { last_used_at: number; expires_at: number; hard_cap_at: number };
    db.close();
    assert(row.last_used_at !== null, "the connect was recorded");
    assert(row.expires_at > session.expiresAt, "the expiry slid forward");
    assert(row.expires_at <= row.hard_cap_at);
  });
});

Deno.test("an external console with a license GUID opens the tunnel with WebSocket subprotocols", async () => {
  await Stack.withEchoSite(async ({ stack, echo, q }) => {
    const license = crypto.randomUUID();
    const reg = await fetch(`${stack.url}/api/admin/tenants/${q.tenantId}/licenses`, {
      method: "POST",
      headers: { "x-admin-api-key": TEST_ADMIN_KEY, "content-type": "application/json" },
      body: JSON.stringify({ license }),
    });
    assertEquals(reg.status, 201);
    await reg.body?.cancel();
    const handle = q.device.handles[echo.port];
    for (
      const protocols of [[`license.${license}.user.op-42`], [`license.${license}`, "user.op-42"]]
    ) {
      const ws = await stack.openTunnel(handle, undefined, protocols);
      assertEquals(ws.protocol, protocols[0], "the cloud selects the license subprotocol");
      const data = randomBytes(32 << 10);
      const out = await echoThrough(ws, data);
      assertEquals(await sha256(out.received), await sha256(data));
    }
    const { entries } = await stack.admin<{ entries: { detail: Record<string, string> }[] }>(
      "audit",
      "--tenant",
      q.tenantId,
      "--action",
      "tunnel.open",
    );
    assert(entries.every((e) => e.detail.via === "license" && e.detail.user === "op-42"));
  });
});
