/**
 * Revoking a credential ends what it opened: a WebSocket tunnel opened with an API token and one
 * opened with a CLI session are closed ("credentials revoked") soon after the token or session is
 * revoked, while a tunnel opened with another credential keeps flowing.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
// @ts-types="@types/ws"
import type WebSocket from "ws";

Deno.test("revoking a token or CLI session closes the tunnels it opened; others keep flowing", async () => {
  await Stack.withEchoSite(async ({ stack, q, handle }) => {
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(stack.url + path, {
        method,
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return await r.json();
    };
    const token = await api("POST", "/api/account/tokens", { name: "short-lived" });
    const session = await api("POST", "/api/cli/sessions", { siteIds: [q.siteId] });
    const closed = (ws: WebSocket) =>
      new Promise<{ code: number; reason: string }>((resolve) =>
        ws.once("close", (code, reason) => resolve({ code, reason: String(reason) }))
      );
    let echoed = 0;
    const viaToken = await stack.openTunnel(handle, token.token);
    const viaSession = await stack.openTunnel(handle, session.token);
    const keeper = await stack.openTunnel(handle, q.apiToken, undefined, (m) => {
      echoed += m.byteLength;
    });
    const tokenClosed = closed(viaToken);
    const sessionClosed = closed(viaSession);

    await api("DELETE", `/api/account/tokens/${token.id}`);
    assertEquals(await tokenClosed, { code: 1008, reason: "credentials revoked" });
    await api("DELETE", `/api/cli/sessions/${session.id}`);
    assertEquals(await sessionClosed, { code: 1008, reason: "credentials revoked" });

    // The tunnel opened with the credential that was not revoked still echoes.
    keeper.send(new Uint8Array(1000));
    for (let i = 0; i < 100 && echoed < 1000; i++) await new Promise((r) => setTimeout(r, 50));
    assertEquals(echoed, 1000);
    assert(keeper.readyState === keeper.OPEN);
    keeper.close();
  });
});

Deno.test("revoking a token closes the RTSP session it opened", async () => {
  const stack = await Stack.start();
  // A device that answers every RTSP request with 200 and keeps the connection.
  const device = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (device.addr as Deno.NetAddr).port;
  const held: Deno.Conn[] = [];
  (async () => {
    for await (const c of device) {
      held.push(c);
      (async () => {
        const buf = new Uint8Array(4096);
        for (;;) {
          const n = await c.read(buf).catch(() => null);
          if (n === null) return;
          const cseq = /CSeq: (\d+)/.exec(new TextDecoder().decode(buf.subarray(0, n)))?.[1];
          await c.write(new TextEncoder().encode(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n\r\n`));
        }
      })();
    }
  })().catch(() => {});
  stack.defer(() => {
    device.close();
    for (const c of held) c.close();
    return Promise.resolve();
  });
  try {
    const q = await stack.quickstart([port]);
    await stack.agentFor(q);
    const auth = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const token = await (await fetch(`${stack.url}/api/account/tokens`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ name: "player" }),
    })).json();
    const player = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.rtsp });
    const h = q.device.handles[port];
    await player.write(
      new TextEncoder().encode(
        `OPTIONS rtsp://127.0.0.1:${stack.ports.rtsp}/${h}/live RTSP/1.0\r\nCSeq: 1\r\n` +
          `Authorization: Basic ${btoa(`op:${token.token}`)}\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(4096);
    const n = await player.read(buf);
    assert(n !== null && new TextDecoder().decode(buf.subarray(0, n)).startsWith("RTSP/1.0 200"));

    await fetch(`${stack.url}/api/account/tokens/${token.id}`, { method: "DELETE", headers: auth })
      .then((r) => r.body?.cancel());
    // The gateway closes the player's connection (end of stream, no further answer).
    assertEquals(await player.read(buf), null);
    player.close();
  } finally {
    await stack.stop();
  }
});
