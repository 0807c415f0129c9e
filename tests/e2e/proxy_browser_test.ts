/**
 * The browser proxy in real headless Chromium: an operator signs in through the sign-in page and
 * lands on the camera UI under `/c/{h}/`, whose run-time JavaScript (fetch, XHR, WebSocket,
 * EventSource), device login form, cookies and `location` assignment all work; then a hostile
 * device page tries the isolation attacks (use the cloud API with the operator's session, read
 * another device, overwrite the cloud's cookie, register a service worker, frame or open the
 * cloud's pages) and every one fails while the operator's session stays intact.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";

Deno.test("proxy in Chromium: a camera UI works under /c/{h}/ and a hostile page is contained", async () => {
  const stack = await Stack.start();
  const cam = await startCamera();
  const cam2 = await startCamera();
  stack.defer(cam.close);
  stack.defer(cam2.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port], "Browser");
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const second = await (await fetch(`${stack.url}/api/sites/${q.siteId}/devices`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ host: "127.0.0.1", ports: [cam2.port], label: "Second camera" }),
    })).json();
    const other = second.handles[cam2.port];
    assert(other, JSON.stringify(second));
    const user = await stack.addUser(q.tenantId);

    const context = await browser.newContext();
    const page = await context.newPage();
    // Not signed in: sent to the sign-in page, and back to the camera after.
    await page.goto(`${stack.url}/c/${handle}/`);
    assertStringIncludes(page.url(), `/login?next=`);
    await page.screenshot({ path: `${SCREENSHOTS}/proxy-01-sign-in.png` });
    await page.fill("#email", user.email);
    await page.fill("#password", user.password);
    await Promise.all([page.waitForURL(`**/c/${handle}/`), page.click("button[type=submit]")]);

    // The camera UI: markup rewritten, run-time requests routed under the prefix.
    await page.waitForSelector("#title");
    for (
      const [id, want] of [["fetch", "DS-TEST"], ["xhr", "rpc2-ok"], ["ws", "ws-ok:ping"], [
        "sse",
        "sse-ok",
      ]]
    ) {
      await page.waitForFunction(
        `document.getElementById(${JSON.stringify(id)})?.textContent?.includes(${
          JSON.stringify(want)
        })`,
        null,
        { timeout: 15_000 },
      ).catch(async () => {
        throw new Error(`#${id} never showed ${want}: ${await page.textContent(`#${id}`)}`);
      });
    }
    await page.screenshot({ path: `${SCREENSHOTS}/proxy-02-camera-ui.png` });
    const paths = cam.seen.map((s) => s.path);
    for (const p of ["/img/logo.png", "/img/bg.png", "/css/app.css", "/js/app.js", "/RPC2"]) {
      assert(paths.includes(p), `camera never saw ${p}: ${paths.join(" ")}`);
    }
    // The page's own cookie stays inside its handle's path.
    const lang = (await context.cookies()).find((c) => c.name === "lang");
    assertEquals(lang?.path, `/c/${handle}/`);

    // The device's login form → absolute redirect → session cookie → location assignment.
    await Promise.all([
      page.waitForURL(`**/c/${handle}/doc/page/after.asp`),
      page.click("#go"),
    ]);
    assertEquals(await page.textContent("#state"), "after-location");
    const main = cam.seen.find((s) => s.path === "/doc/page/main.asp");
    assertStringIncludes(main?.headers.cookie ?? "", "WebSession=s3cr3t");
    assert(!(main?.headers.cookie ?? "").includes("nc_session"), "cloud cookie reached device");
    const cookies = await context.cookies();
    const web = cookies.find((c) => c.name === "WebSession");
    assertEquals(web?.path, `/c/${handle}/`);
    assert(!cookies.some((c) => c.name === "__Host-evil"));
    const session = cookies.find((c) => c.name === "nc_session");
    assert(session && session.value !== "overwritten", "device overwrote the cloud cookie");

    // The hostile page.
    const seenBySecond = cam2.seen.length;
    await page.goto(`${stack.url}/c/${handle}/evil?other=${other}`);
    const ids = ["api", "api-noref", "api-post", "other", "other-noref", "sw", "sw-raw", "cookie"];
    await page.waitForFunction(
      `${JSON.stringify([...ids, "frame", "popup"])}.every((i) =>
        document.getElementById(i)?.textContent !== "…")`,
      null,
      { timeout: 20_000 },
    );
    await page.screenshot({ path: `${SCREENSHOTS}/proxy-03-hostile-page.png` });
    const result: Record<string, string> = {};
    for (const id of [...ids, "frame", "popup"]) {
      result[id] = (await page.textContent(`#${id}`)) ?? "";
    }
    assertEquals(result.api, "403", JSON.stringify(result));
    assertEquals(result["api-noref"], "403", JSON.stringify(result));
    assertEquals(result["api-post"], "403", JSON.stringify(result));
    assertEquals(result.other, "403", JSON.stringify(result));
    assertEquals(result["other-noref"], "403", JSON.stringify(result));
    assertStringIncludes(result.sw, "blocked");
    assertStringIncludes(result["sw-raw"], "blocked");
    assert(!result.frame.includes(user.email), `frame read the cloud: ${result.frame}`);
    assert(!result.popup.includes("Nanodems"), `popup read the cloud: ${result.popup}`);
    assertEquals(cam2.seen.length, seenBySecond, "the other device was reached");
    assert(!cam.seen.some((s) => s.path.startsWith("/sw.js") && s.headers["service-worker"]));
    // The operator's session survived the attempts.
    const after = (await context.cookies()).find((c) => c.name === "nc_session");
    assertEquals(after?.value, session.value);
    const me = await fetch(`${stack.url}/api/auth/me`, {
      headers: { cookie: `nc_session=${after!.value}` },
    });
    assertEquals(me.status, 200);
    await me.body?.cancel();
    await closeContext(context);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
