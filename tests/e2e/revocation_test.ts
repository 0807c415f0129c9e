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
