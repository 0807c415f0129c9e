/**
 * The tunnel idle timeout (`--tunnel-idle-timeout`, off by default): a WebSocket tunnel that
 * carries no byte either way for that long is closed with the reason "idle timeout"; one that
 * keeps talking stays open.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { echoServer, Stack } from "../_fixtures/stack.ts";

Deno.test("idle tunnels close with 'idle timeout'; busy ones stay open", async () => {
  const stack = await Stack.start({ cloudArgs: ["--tunnel-idle-timeout", "1500ms"] });
  const echo = await echoServer();
  stack.defer(echo.close);
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[echo.port];

    const idle = await stack.openTunnel(handle, q.apiToken);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      idle.once("close", (code, reason) => resolve({ code, reason: String(reason) }))
    );

    let echoed = 0;
    const busy = await stack.openTunnel(handle, q.apiToken, undefined, (m) => {
      echoed += m.byteLength;
    });
    let busyClosed = false;
    busy.once("close", () => (busyClosed = true));
    const ticker = setInterval(() => busy.send(new Uint8Array([1, 2, 3])), 100);

    assertEquals(await closed, { code: 1000, reason: "idle timeout" });
    // The busy tunnel outlived the idle one (both opened together) and still echoes.
    const before = echoed;
    await new Promise((r) => setTimeout(r, 500));
    clearInterval(ticker);
    assert(!busyClosed, "a busy tunnel was closed");
    assert(echoed > before, "the busy tunnel stopped echoing");
    busy.close();
  } finally {
    await stack.stop();
  }
});

Deno.test("the port pill opens the device in the proxy (minting the handle)", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([80, 554]);
    const url = `${stack.url}/api/devices/${q.device.deviceId}/ports/80/open`;
    const auth = { authorization: `Bearer ${q.apiToken}` };
    const r = await fetch(url, { headers: auth, redirect: "manual" });
    assertEquals(r.status, 302);
    assertEquals(r.headers.get("location"), `/c/${q.device.handles[80]}/`);
    await r.body?.cancel();
    const j = await fetch(url, { headers: { ...auth, accept: "application/json" } });
    assertEquals(await j.json(), {
      handle: q.device.handles[80],
      url: `/c/${q.device.handles[80]}/`,
    });
    const none = await fetch(url.replace("/80/", "/81/"), { headers: auth });
    assertEquals(none.status, 404);
    await none.body?.cancel();
    const other = await stack.quickstart([80], "Other");
    const cross = await fetch(url, {
      headers: { authorization: `Bearer ${other.apiToken}` },
      redirect: "manual",
    });
    assertEquals(cross.status, 404);
    await cross.body?.cancel();
  } finally {
    await stack.stop();
  }
});
