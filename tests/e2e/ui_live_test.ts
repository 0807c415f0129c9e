/**
 * Live sessions: an admin sees who has which tunnel open right now (on the dashboard and at
 * GET /api/live) and terminates one; the operator's tunnel closes with "terminated by an admin"
 * and the termination is audited.
 */
import { assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { echoServer, Stack } from "../_fixtures/stack.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";

Deno.test("live sessions: listed with who and what, terminated from the dashboard, audited", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([echo.port]);
    await stack.agentFor(q);
    const ws = await stack.openTunnel(q.device.handles[echo.port], q.apiToken);
    const closed = new Promise<{ code: number; reason: string }>((resolve) =>
      ws.once(
        "close",
        (code: number, reason: Uint8Array) =>
          resolve({ code, reason: new TextDecoder().decode(reason) }),
      )
    );
    // Some bytes both ways first: the list counts them.
    const echoed = new Promise<void>((resolve) => ws.once("message", () => resolve()));
    ws.send(new TextEncoder().encode("hello"));
    await echoed;
    const live = await (await fetch(`${stack.url}/api/live`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    assertEquals(live.items.length, 1, JSON.stringify(live));
    assertEquals(live.items[0].kind, "WebSocket tunnel");
    assertStringIncludes(live.items[0].who, "@example.com");
    assertStringIncludes(live.items[0].device, `127.0.0.1:${echo.port}`);
    assertEquals(live.items[0].bytes, 10, "5 bytes up, 5 echoed down");

    const admin = await stack.addUser(q.tenantId, "admin");
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${stack.url}/`);
    await page.fill("#email", admin.email);
    await page.fill("#password", admin.password);
    await Promise.all([page.waitForURL(`${stack.url}/`), page.click("button[type=submit]")]);
    const row = page.locator("tr[data-live]", { hasText: "WebSocket tunnel" });
    await row.waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/ui-live-sessions.png`, fullPage: true });
    await row.locator("text=Terminate").click();
    assertStringIncludes(await page.textContent("#confirm-text") ?? "", "WebSocket tunnel");
    // The dashboard reloads after the termination: wait for the reloaded page before closing it.
    await Promise.all([page.waitForEvent("load"), page.click("#confirm-dialog >> text=Confirm")]);
    const c = await closed;
    assertEquals(c, { code: 1008, reason: "terminated by an admin" });
    await closeContext(context);

    const audit = await stack.admin<{ entries: { action: string; actor: string }[] }>(
      "audit",
      "--tenant",
      q.tenantId,
      "--action",
      "live.terminate",
    );
    assertEquals(audit.entries.map((e) => e.actor), [`user:${admin.userId}`]);
    const after = await (await fetch(`${stack.url}/api/live`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    })).json();
    assertEquals(after.items, []);
    const gone = await fetch(`${stack.url}/api/live/nope`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    assertEquals(gone.status, 404);
    await gone.body?.cancel();
  } finally {
    await browser.close();
    await stack.stop();
  }
});
