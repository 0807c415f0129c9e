/**
 * More of the web UI in real Chromium: ONVIF discovery from the Discover page (a fake camera
 * answers the site's real agent) and "+ Add selected"; editing a device's ports with the pencil;
 * device credentials that are write-only; the RTSP pill's signed URL; revoking an agent with a
 * confirmation; an expired session sent to sign in and back to the same page; an antiforgery
 * mismatch answered with the guide's words; and the superadmin's tenant picker and licenses.
 * The RTSP pill's "Ask the camera (ONVIF)" fills in the stream path a camera gives; the site's
 * "Ask the cameras" says why one did not, and "Same credentials for every device" sets them.
 */
import type { Page } from "playwright-core";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../_fixtures/assert.ts";
import { Proc, Stack } from "../_fixtures/stack.ts";
import { onvifResponder } from "../_fixtures/onvif.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { ONVIF_STREAM_PATH, ONVIF_SUB_STREAM_PATH } from "../_fixtures/onvif_service.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";

async function signIn(page: Page, url: string, email: string, password: string, path = "/") {
  await page.goto(`${url}${path}`);
  assertStringIncludes(page.url(), "/login?next=");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${url}${path}`), page.click("button[type=submit]")]);
}

Deno.test("UI workflows: discovery, ports, credentials, RTSP pill, revoke, expiry, antiforgery, tenant picker", async () => {
  const onvif = await onvifResponder();
  const stack = await Stack.start();
  stack.defer(() => Promise.resolve(onvif.close()));
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([554], "Discover");
    const e = await stack.enroll(q.enrollmentToken);
    const agent = new Proc(
      ["agent", "run", "--state", e.state, "--log-format", "json"],
      { NC_DISCOVERY_TARGETS: `127.0.0.1:${onvif.port}` },
    );
    stack.agents.push(agent);
    await agent.waitFor(/"control stream up"/);
    const admin = await stack.addUser(q.tenantId, "admin");
    const context = await browser.newContext();
    const page = await context.newPage();
    page.on("dialog", (d) => d.accept());
    await signIn(page, stack.url, admin.email, admin.password, `/discover?site=${q.siteId}`);

    // Discovery: the fake camera answers through the site's agent; add it.
    await page.click("text=Run discovery");
    await page.waitForSelector("#discovered >> text=Acme Cams", { timeout: 15_000 });
    assertStringIncludes(await page.textContent("#discovered") ?? "", "AC-1000");
    await page.screenshot({ path: `${SCREENSHOTS}/ui-12-discovery.png`, fullPage: true });
    await Promise.all([
      page.waitForURL(`**/sites/${q.siteId}`),
      page.click("text=+ Add selected"),
    ]);
    const row = page.locator("tr[data-device]", { hasText: "Gate North" });
    await row.waitFor();
    // Discovery added the camera's web port (from its XAddrs) as HTTP, 554 as RTSP.
    assertStringIncludes(await row.textContent() ?? "", "8000 HTTP");
    assertStringIncludes(await row.textContent() ?? "", "554 RTSP");

    // Pencil: edit the ports as a comma list, Save changes.
    await row.locator("text=✎ Edit").click();
    const dialog = page.locator("dialog[open]");
    // Each port's protocol after a slash; an unknown one is refused with a toast.
    assertEquals(await dialog.locator("input[name=ports]").inputValue(), "554/rtsp, 8000/http");
    await dialog.locator("input[name=ports]").fill("80/gopher");
    await dialog.locator("text=Save changes").click();
    assertStringIncludes(
      await (await page.waitForSelector(".toast.error")).textContent() ?? "",
      "unknown protocol",
    );
    await dialog.locator("input[name=ports]").fill("80/tcp, 8080");
    await dialog.locator("text=Save changes").click();
    await page.waitForSelector("tr[data-device]:has-text('Gate North') >> text=8080 HTTP");
    await page.waitForSelector("tr[data-device]:has-text('Gate North') >> text=80 TCP");

    // Device credentials: saved, shown as held, never shown back.
    const row2 = page.locator("tr[data-device]", { hasText: "Gate North" });
    await row2.locator("button[data-open^=cred-]").click();
    const cred = page.locator("dialog[open]");
    await cred.locator("input[name=username]").fill("admin");
    await cred.locator("input[name=password]").fill("S3cret-camera-pw");
    await cred.locator("text=Save credentials").click();
    await page.waitForSelector("text=credentials held by the cloud");
    assert(!(await page.content()).includes("S3cret-camera-pw"), "password shown back");

    // The quickstart device's RTSP pill asks for the stream path, then shows a signed rtsp://
    // URL with it; the path is remembered for that port.
    const pill = () =>
      page.locator("tr[data-device]", { hasText: "127.0.0.1" }).first().locator("text=554 RTSP");
    await pill().click();
    await page.waitForSelector("#rtsp-dialog[open]");
    await page.fill("#rtsp-path", "/Streaming/Channels/101");
    await page.click("#rtsp-dialog >> text=Copy RTSP URL");
    await page.waitForSelector("#secret-dialog[open]");
    const rtsp = (await page.textContent("#secret-text"))!;
    assert(/^rtsp:\/\/[^/]+\/h-[^/]+\.[^/]+\/Streaming\/Channels\/101$/.test(rtsp), rtsp);
    await page.click("#secret-dialog >> text=Done");
    await page.reload();
    await pill().click();
    await page.waitForSelector("#rtsp-dialog[open]");
    assertEquals(await page.inputValue("#rtsp-path"), "/Streaming/Channels/101");
    await page.click("#rtsp-dialog >> text=Cancel");
    const live = await page.locator("tr[data-device]", { hasText: "127.0.0.1" }).first()
      .locator("a:has-text('Live')").getAttribute("href");
    assertStringIncludes(live ?? "", "path=%2FStreaming%2FChannels%2F101");
    // The site's live grid plays that camera on its remembered path too.
    const grid = await (await page.request.get(`${stack.url}/sites/${q.siteId}/live`)).text();
    assertStringIncludes(grid, 'data-path="/Streaming/Channels/101"');

    // An antiforgery mismatch: the guide's words in a toast, nothing created.
    await page.goto(`${stack.url}/sites`);
    // As if the page were stale: the token it sends is not the session's.
    await page.route("**/api/sites", (route) =>
      route.continue({
        headers: { ...route.request().headers(), "x-csrf-token": "stale-token" },
      }));
    await page.fill("#site-name", "Forged");
    await page.click("text=+ New site");
    const toast = await page.waitForSelector(".toast.error");
    assertStringIncludes(
      await toast.textContent() ?? "",
      "Antiforgery token mismatch. Hard-refresh the page (Ctrl+Shift+R) and try again.",
    );
    await page.unroute("**/api/sites");
    await page.reload();
    assert(!(await page.textContent("main"))!.includes("Forged"));

    // A LAN that answers with more cameras than one discovery holds: the table shows the first
    // ones and says how many more answered.
    onvif.flood(40);
    await page.goto(`${stack.url}/discover?site=${q.siteId}`);
    await page.click("text=Run discovery");
    const more = await page.waitForSelector("#discovered [data-dropped]", { timeout: 15_000 });
    assertMatch(
      await more.textContent() ?? "",
      /^\d[\d,.]* more devices answered than one discovery shows: add the rest by address or range below\.$/,
    );
    onvif.flood(0);
    // A host flooding the discovery port: the camera that answered first, and why others may miss.
    onvif.slow(250);
    await page.goto(`${stack.url}/discover?site=${q.siteId}`);
    await page.click("text=Run discovery");
    const flooded = await page.waitForSelector("#discovery-results [data-ignored]", {
      timeout: 15_000,
    });
    assertMatch(
      await flooded.textContent() ?? "",
      /^\d[\d,.]* replies past what one discovery reads were not read: a host on this LAN may be flooding the discovery port \(UDP 3702\)\. Cameras among them are not listed; add them by address below\.$/,
    );
    await page.waitForSelector("#discovered >> text=Gate North");
    // Only the flood answers: the page says no camera was among what it read (not that none
    // answered), and why others may have been missed.
    onvif.slow(250, false);
    await page.goto(`${stack.url}/discover?site=${q.siteId}`);
    await page.click("text=Run discovery");
    await page.waitForSelector("#discovery-results [data-ignored]", { timeout: 15_000 });
    assertEquals(
      await page.textContent("#discovery-results .empty"),
      "No ONVIF camera was among the replies read. Add them by address below.",
    );
    onvif.slow(0);

    // Revoke the agent from the Agents page, with a confirmation.
    await page.goto(`${stack.url}/agents`);
    await page.click("[data-agent] >> text=Revoke");
    // The console's own dialog names the agent.
    await page.waitForSelector("#confirm-dialog[open]");
    assertStringIncludes(await page.textContent("#confirm-text") ?? "", "Revoke agent");
    await page.click("#confirm-dialog >> text=Confirm");
    await page.waitForSelector("text=No agents yet");

    // The session expires: sent to sign in, then back to the same page.
    await context.clearCookies();
    await page.goto(`${stack.url}/audit?action=site.create`);
    assertStringIncludes(
      page.url(),
      `/login?next=${encodeURIComponent("/audit?action=site.create")}`,
    );
    await page.fill("#email", admin.email);
    await page.fill("#password", admin.password);
    await Promise.all([
      page.waitForURL(`**/audit?action=site.create`),
      page.click("button[type=submit]"),
    ]);

    // A superadmin picks a tenant at the top right and sees only that tenant; licenses page.
    const other = await stack.quickstart([80], "Elsewhere");
    const root = await stack.addUser(other.tenantId, "superadmin");
    const ctxS = await browser.newContext();
    const pageS = await ctxS.newPage();
    await signIn(pageS, stack.url, root.email, root.password, "/sites");
    assertStringIncludes(await pageS.textContent("main") ?? "", "Site 1");
    await Promise.all([
      pageS.waitForURL(`${stack.url}/`),
      pageS.selectOption("select[data-tenant-picker]", q.tenantId),
    ]);
    await pageS.goto(`${stack.url}/sites/${q.siteId}`);
    assertStringIncludes(await pageS.textContent("main") ?? "", "Gate North");
    await pageS.goto(`${stack.url}/licenses`);
    assertStringIncludes(await pageS.textContent("h1") ?? "", "Licenses");
    await pageS.screenshot({ path: `${SCREENSHOTS}/ui-13-licenses.png`, fullPage: true });
    // An ordinary admin has no licenses page: a 403 that says who may see it.
    const lic = await page.goto(`${stack.url}/licenses`);
    assertEquals(lic?.status(), 403);
    assertStringIncludes(await page.textContent("main") ?? "", "superadmins only");
    await ctxS.close();
    await closeContext(context);
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test('UI: the RTSP pill\'s "Ask the camera (ONVIF)" fills in the stream path the camera gives, and the URL carries it', async () => {
  const cam = await startCamera({ onvif: {} });
  const stack = await Stack.start();
  stack.defer(cam.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "Cameras");
    await stack.agentFor(q);
    const admin = await stack.addUser(q.tenantId, "admin");
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, stack.url, admin.email, admin.password, `/sites/${q.siteId}`);
    const pill = page.locator("tr[data-device]", { hasText: "127.0.0.1" }).first()
      .locator("text=554 RTSP");

    // No credentials held yet: the camera's refusal, in the operator's words, as a toast.
    await pill.click();
    await page.waitForSelector("#rtsp-dialog[open]");
    await page.click("#rtsp-dialog >> text=Ask the camera (ONVIF)");
    assertStringIncludes(
      await (await page.waitForSelector(".toast.error")).textContent() ?? "",
      "the camera wants credentials for trt:GetProfiles: save its user name and password",
    );
    assertEquals(await page.inputValue("#rtsp-path"), "");
    await page.click("#rtsp-dialog >> text=Cancel");
    // The Live page of a camera whose path is not known asks the camera too, and says why not.
    const handle = q.device.handles[554];
    const live = await context.newPage();
    await live.goto(`${stack.url}/live/${handle}`);
    await live.click("text=Ask the camera (ONVIF)");
    await live.waitForFunction(
      `document.querySelector("#onvif-said").textContent.includes("the camera wants credentials")`,
    );
    // The site-wide ask says how many told, and the first reason one did not.
    await Promise.all([
      page.waitForEvent("load"),
      page.click("text=Ask the cameras for their stream paths (ONVIF)"),
    ]);
    assertStringIncludes(
      await (await page.waitForSelector(".toast")).textContent() ?? "",
      "0 of 1 cameras gave their stream path; 127.0.0.1 :554: the camera wants credentials",
    );

    // The site's one camera password, from the site page: every device without credentials.
    await page.click("text=Same credentials for every device");
    await page.fill("#site-creds-user", "admin");
    await page.fill("#site-creds-password", "12345");
    // For the cameras only (here the one device, a camera): the key box stays empty.
    await page.selectOption("#site-creds-only", "rtsp");
    await Promise.all([
      page.waitForEvent("load"),
      page.click("#site-creds >> text=Save for every device"),
    ]);
    assertStringIncludes(
      await (await page.waitForSelector(".toast")).textContent() ?? "",
      "Credentials saved; devices given them: 1",
    );
    assertStringIncludes(await page.textContent("main") ?? "", "credentials held by the cloud");
    assert(!(await page.content()).includes("12345"), "never shown back");
    // With them, the Live page's button plays the path the camera gives.
    await live.click("text=Ask the camera (ONVIF)");
    await live.waitForSelector(`video[data-live="${handle}"]`);
    assertEquals(
      await live.getAttribute(`video[data-live="${handle}"]`, "data-path"),
      ONVIF_STREAM_PATH,
    );
    await live.close();
    await pill.click();
    await page.waitForSelector("#rtsp-dialog[open]");
    await page.click("#rtsp-dialog >> text=Ask the camera (ONVIF)");
    await page.waitForFunction(
      `document.querySelector("#rtsp-path").value === ${JSON.stringify(ONVIF_STREAM_PATH)}`,
    );
    // Its second profile fills the sub-stream box: what the grid and the thumbnails will play.
    assertEquals(await page.inputValue("#rtsp-sub"), ONVIF_SUB_STREAM_PATH);
    await page.screenshot({ path: `${SCREENSHOTS}/ui-14-onvif-path.png` });
    await page.click("#rtsp-dialog >> text=Copy RTSP URL");
    await page.waitForSelector("#secret-dialog[open]");
    const url = (await page.textContent("#secret-text"))!;
    assert(url.endsWith(ONVIF_STREAM_PATH), url);
    // The sub-stream's signed URL beside it, for a recorder's second stream.
    const subUrl = url.slice(0, -ONVIF_STREAM_PATH.length) + ONVIF_SUB_STREAM_PATH;
    assertStringIncludes((await page.textContent("#secret-dialog .note"))!, subUrl);
    await page.click("#secret-dialog >> text=Done");
    // Every RTSP port's stream path known: the site-wide button is gone.
    await page.reload();
    assertEquals(await page.locator("text=Ask the cameras for their stream paths").count(), 0);
    // What the camera said it is, on its row, and found by its firmware.
    assertStringIncludes(
      (await page.textContent(`tr[data-device] td`))!,
      "HIKVISION DS-2CD2143G2-I · firmware V5.7.3 build 220112",
    );
    // The thumbnail and the live grid play the lighter sub-stream; the Live pill the main one.
    assertEquals(
      await page.getAttribute(`canvas[data-thumb="${handle}"]`, "data-path"),
      ONVIF_SUB_STREAM_PATH,
    );
    assertStringIncludes(
      (await page.getAttribute(`a.pill[href^="/live/${handle}"]`, "href"))!,
      new URLSearchParams({ path: ONVIF_STREAM_PATH }).toString(),
    );
    await page.goto(`${stack.url}/sites/${q.siteId}/live`);
    assertEquals(
      await page.getAttribute(`video[data-live="${handle}"]`, "data-path"),
      ONVIF_SUB_STREAM_PATH,
    );
    // A tile's name opens that camera alone, on its main stream.
    assertEquals(
      await page.getAttribute(`figure.live-tile a[href="/live/${handle}"]`, "target"),
      "_blank",
    );
    await closeContext(context);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
