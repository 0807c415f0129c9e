// End to end through the real processes: an operator's WebSocket tunnel carries bytes both ways
// to a TCP service on the agent's LAN, intact, with many tunnels at once; the tunnel CLI does
// the same for an ordinary TCP client.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoServer, echoThrough, Proc, randomBytes, sha256, Stack } from "../_fixtures/stack.ts";

Deno.test("64 MiB both ways through /api/tunnel/{handle}, then 50 tunnels at once", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
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
  } finally {
    await stack.stop();
  }
});

Deno.test("the tunnel CLI carries a TCP client's bytes both ways, with half-close", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[echo.port];
    const cli = new Proc([
      "tunnel",
      "open",
      handle,
      "--cloud",
      stack.url,
      "--token",
      q.apiToken,
      "--listen",
      "127.0.0.1:0",
    ]);
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
  } finally {
    await stack.stop();
  }
});
