/**
 * Camera thumbnails on the site page: an RTSP port whose stream path is known shows the camera's
 * latest picture (decoded in the browser from the live view's first keyframe, through the agent's
 * tunnel), refreshes it while the page is visible, and stops refreshing while the tab is hidden;
 * a stream path the camera does not have is said on the canvas with the camera's answer.
 * Chromium against GStreamer's camera; the period is shortened to 2 s for the test.
 */
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/rtsp.ts";
import { closeContext, launchBrowser, SCREENSHOTS, signedInContext } from "../_fixtures/browser.ts";

Deno.test("site page: a camera thumbnail shows a real picture and refreshes only while visible", async () => {
  const stack = await Stack.start();
  const cam = await startCamera();
  stack.defer(cam.close);
  const browser = await launchBrowser();
  stack.defer(() => browser.close());
  try {
    const q = await stack.quickstart([cam.port]);
    await stack.agentFor(q);
    const patched = await fetch(`${stack.url}/api/devices/${q.device.deviceId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({
        protocols: { [cam.port]: "rtsp" },
        streamPaths: { [cam.port]: cam.path },
      }),
    });
    assertEquals(patched.status, 200, await patched.text());

    const user = await stack.addUser(q.tenantId);
    const cookie = await stack.signIn(user.email, user.password);
    const context = await signedInContext(browser, stack.url, cookie, {
      viewport: { width: 1280, height: 400 },
    });
    await context.addInitScript("window.__ncThumbSeconds = 2;");
    const page = await context.newPage();
    await page.goto(`${stack.url}/sites/${q.siteId}`);
    const thumb = page.locator(`canvas[data-thumb="${q.device.handles[cam.port]}"]`);
    await thumb.waitFor();
    // Off screen (below the fold of a 400 px high window) it waits; scrolled into view it loads.
    assert(
      await page.evaluate(
        `document.querySelector("canvas[data-thumb]").getBoundingClientRect().top > innerHeight`,
      ),
    );
    await new Promise((r) => setTimeout(r, 1_500));
    assertEquals(await thumb.getAttribute("data-state"), null, "loaded while off screen");
    await thumb.scrollIntoViewIfNeeded();
    await page.waitForSelector("canvas[data-thumb][data-state=ok]", { timeout: 30_000 });
    await page.screenshot({ path: `${SCREENSHOTS}/ui-thumbnail.png` });

    // A real picture: the test pattern has many colours, an empty canvas has one.
    const colours = await page.evaluate(`(() => {
      const c = document.querySelector("canvas[data-thumb]");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < px.length; i += 4) seen.add((px[i] >> 4) + "," + (px[i + 1] >> 4) + "," + (px[i + 2] >> 4));
      return seen.size;
    })()`) as number;
    assert(colours > 8, `the thumbnail holds ${colours} colours: no picture was drawn`);

    // Visible: it refreshes (every 2 s here, 30 s in production).
    const at = () => thumb.getAttribute("data-at").then(Number);
    const first = await at();
    await page.waitForFunction(
      `Number(document.querySelector("canvas[data-thumb]").dataset.at) > ${first}`,
      null,
      { timeout: 30_000 },
    );

    // Hidden: no more pictures are fetched.
    await page.evaluate(`(() => {
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
      document.dispatchEvent(new Event("visibilitychange"));
    })()`);
    await page.waitForFunction(`!document.querySelector("canvas[data-thumb]").dataset.busy`);
    const hiddenAt = await at();
    await new Promise((r) => setTimeout(r, 6_000));
    assertEquals(await at(), hiddenAt, "a hidden tab fetched a new thumbnail");

    // A stream path the camera does not have: the thumbnail says what the camera answered, on
    // the canvas itself (the upgrade was refused: the page asks why without upgrading).
    const wrong = await fetch(`${stack.url}/api/devices/${q.device.deviceId}`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ streamPaths: { [cam.port]: "/no-such-stream" } }),
    });
    assertEquals(wrong.status, 200, await wrong.text());
    const other = await context.newPage();
    await other.goto(`${stack.url}/sites/${q.siteId}`);
    const failed = other.locator("canvas[data-thumb]");
    await failed.scrollIntoViewIfNeeded();
    await other.waitForSelector("canvas[data-thumb][data-state=failed]", { timeout: 30_000 });
    assertEquals(
      await failed.getAttribute("data-reason"),
      "the camera answered DESCRIBE with 404 Not Found",
    );
    assertEquals(
      await failed.getAttribute("title"),
      `${await failed.getAttribute(
        "data-name",
      )}: no picture: the camera answered DESCRIBE with 404 Not Found`,
    );
    // A screen reader hears the same, not "Latest picture of".
    assertEquals(
      await failed.getAttribute("aria-label"),
      `No picture from ${await failed.getAttribute(
        "data-name",
      )}: the camera answered DESCRIBE with 404 Not Found`,
    );
    // Written on the canvas: light text on the dark box.
    const light = await other.evaluate(`(() => {
      const c = document.querySelector("canvas[data-thumb]");
      const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i] > 200 && px[i + 1] > 200 && px[i + 2] > 200) n++;
      return n;
    })()`) as number;
    assert(light > 50, `the reason is drawn on the canvas (${light} light pixels)`);
    await other.screenshot({ path: `${SCREENSHOTS}/ui-thumbnail-failed.png` });
    await closeContext(context);
  } finally {
    await stack.stop();
  }
});
