/**
 * A camera whose live event stream is a WebSocket behind its own Basic auth, opened in Chromium
 * through `/c/{h}/` while the cloud holds the camera's credentials: the upgrade is answered with
 * them exactly as page requests are, so the live view gets its events (at 1280 and 390 px).
 */
import { assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";

Deno.test("Chromium: a Basic-auth camera's WebSocket through /c/{h}/ with held credentials", async () => {
  const stack = await Stack.start();
  const cam = await startCamera();
  stack.defer(cam.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port], "CamWs");
    await stack.agentFor(q);
    const put = await fetch(
      `${stack.url}/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`,
      {
        method: "PUT",
        headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ username: "admin", password: "12345" }),
      },
    );
    assertEquals(put.status < 300, true);
    await put.body?.cancel();
    const user = await stack.addUser(q.tenantId, "operator");
    const handle = q.device.handles[cam.port];
    for (const width of [1280, 390]) {
      const context = await browser.newContext({ viewport: { width, height: 800 } });
      const page = await context.newPage();
      await page.goto(`${stack.url}/c/${handle}/live.html`);
      if (page.url().includes("/login")) {
        await page.fill("#email", user.email);
        await page.fill("#password", user.password);
        await Promise.all([
          page.waitForURL(`**/c/${handle}/live.html`),
          page.click("button[type=submit]"),
        ]);
      }
      await page.locator("#state", { hasText: /ws-basic-ok|ERR/ }).waitFor({ timeout: 15_000 });
      assertEquals(await page.textContent("#state"), "ws-basic-ok:event");
      await page.screenshot({ path: `${SCREENSHOTS}/ui-camera-ws-${width}.png` });
      await closeContext(context);
    }
  } finally {
    await browser.close();
    await stack.stop();
  }
});
