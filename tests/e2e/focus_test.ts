// Focus from the live view, end to end: a real cloud and agent, the fake camera's ONVIF imaging
// service through the tunnel (its clock an hour off, its continuous focus speeds -7..7). The API
// asks whether the camera can focus and how it focuses now, nudges the focus (a Move scaled onto
// the camera's speeds, then a Stop the cloud sends itself) and hands it back to autofocus
// (audited); it refuses speeds out of range and unknown actions with a 400 before anything
// reaches the camera, a viewer (403) and another tenant (403); a camera without an imaging
// service and one whose lens only takes set positions (its imaging service named by GetServices
// alone) are 502s in words. In Chromium an operator asks, holds Farther (nudges one after the
// other, the lens stopped when let go), taps Nearer (one nudge), chooses Auto focus, and closes
// the page mid-press: the lens is stopped all the same. A viewer's page has no focus buttons.
// Each call is audited as a use of the cloud-held credentials via `focus`.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { CameraFocus } from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

Deno.test("Focus: the API and the live view nudge a camera's lens over ONVIF through its tunnel and stop it; autofocus is handed back; bad input, a viewer, another tenant and cameras that cannot are refused", async () => {
  const stack = await Stack.start();
  const lens = new CameraFocus();
  lens.continuous = { min: -7, max: 7 };
  const cam = await startCamera({ onvif: { focus: lens, clockOffsetMs: -3_600_000 } });
  const fixed = await startCamera({ onvif: {}, hostname: "127.0.0.2" });
  // A lens that only takes set positions; its imaging service is named by GetServices alone.
  const stepped = new CameraFocus();
  stepped.continuous = null;
  stepped.inCapabilities = false;
  const positions = await startCamera({ onvif: { focus: stepped }, hostname: "127.0.0.3" });
  stack.defer(cam.close);
  stack.defer(fixed.close);
  stack.defer(positions.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "Focus");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const rtsp = q.device.handles[554];
    const focusOf = (handle: string) => `/api/handles/${handle}/focus`;
    const call = (body: unknown, token = q.apiToken, handle = rtsp) =>
      stack.api("POST", focusOf(handle), token, body);

    // Asked: the camera can, and says how it focuses now.
    const asked = await call({ action: "ask" });
    assertEquals([asked.status, asked.json], [200, { ok: true, action: "ask", mode: "MANUAL" }]);
    // A nudge nearer at half speed: half of the camera's -7..7, then the cloud's own stop.
    const nudged = await call({ action: "nudge", speed: -0.5 });
    assertEquals([nudged.status, nudged.json], [200, { ok: true, action: "nudge" }]);
    assertEquals(lens.told, [
      { call: "move", source: "VideoSource_1", speed: -3.5 },
      { call: "stop", source: "VideoSource_1" },
    ]);
    assertEquals(lens.moving, false);
    // Back to autofocus: kept by the camera, said by the next ask, and audited.
    const auto = await call({ action: "auto" });
    assertEquals([auto.status, auto.json], [200, { ok: true, action: "auto" }]);
    assertEquals(lens.told.at(-1), { call: "mode", source: "VideoSource_1", mode: "AUTO" });
    assertEquals((await call({ action: "ask" })).json.mode, "AUTO");
    const audited = await stack.api("GET", "/api/audit?action=device.focus_auto", q.apiToken);
    assertEquals(
      (audited.json.items as { detail: Record<string, unknown> }[]).map((e) => e.detail),
      [{ handle: rtsp }],
    );

    // Refused before anything reaches the camera.
    const toldBefore = lens.told.length;
    for (
      const bad of [
        { action: "nudge", speed: 0 },
        { action: "nudge", speed: 1.5 },
        { action: "nudge" },
        { action: "nudge", speed: "-1" },
        { action: "spin" },
        { action: "ask", x: 1 },
        { action: "auto", mode: "MANUAL" },
      ]
    ) {
      const r = await call(bad);
      assertEquals([r.status, r.json.error], [400, "bad_request"], JSON.stringify(r.json));
    }
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const viewerSession = await stack.session(viewer.email, viewer.password);
    const asViewer = await stack.apiAs(viewerSession, "POST", focusOf(rtsp), {
      action: "nudge",
      speed: 1,
    });
    assertEquals(asViewer.status, 403, JSON.stringify(asViewer.json));
    assertEquals(asViewer.json.message, "this needs the operator role; you are viewer");
    const other = await stack.quickstart([9], "Other");
    const foreign = await call({ action: "nudge", speed: 1 }, other.apiToken);
    assertEquals(foreign.status, 403, JSON.stringify(foreign.json));
    assertEquals(lens.told.length, toldBefore, "nothing more reached the camera");

    // Cameras that cannot say so, in words.
    const noImaging = await call(
      { action: "ask" },
      q.apiToken,
      await stack.addCamera(q, "127.0.0.2", fixed.port),
    );
    assertEquals(noImaging.status, 502, JSON.stringify(noImaging.json));
    assertEquals(
      noImaging.json.message,
      "the camera did not say how it focuses over ONVIF: the camera has no imaging service over " +
        "ONVIF: it cannot focus from here",
    );
    const onlyPositions = await call(
      { action: "nudge", speed: 1 },
      q.apiToken,
      await stack.addCamera(q, "127.0.0.3", positions.port),
    );
    assertEquals(onlyPositions.status, 502, JSON.stringify(onlyPositions.json));
    assertEquals(
      onlyPositions.json.message,
      "the camera did not focus over ONVIF: the camera's lens does not focus continuously over " +
        "ONVIF (it offers only set positions): focus it from the camera's own web page",
    );
    assertEquals(stepped.told, []);

    // The live view: an operator asks, holds Farther, taps Nearer, hands focus back to the camera.
    lens.mode = "MANUAL";
    const operator = await stack.addUser(q.tenantId, "operator");
    const cookie = await stack.signIn(operator.email, operator.password);
    const context = await signedInContext(browser, stack.url, cookie);
    const page = await context.newPage();
    await page.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assert(await page.isHidden(".focus-buttons"), "no buttons before the camera said it can");
    await page.click("[data-focus-start]");
    await page.waitForSelector(".focus-buttons:not([hidden])");
    assertEquals(
      await page.textContent("#focus-said"),
      "Hold Nearer or Farther to focus. Its focus stays where it is set (manual).",
    );
    const held = lens.told.length;
    await page.hover("[aria-label='Focus farther']");
    await page.mouse.down();
    await until(
      "nudges one after the other while held",
      () => lens.told.slice(held).filter((x) => x.call === "move").length >= 2,
    );
    await page.mouse.up();
    await page.waitForFunction(
      `/^Focused farther \\(\\d+ steps\\)\\.$/.test(document.querySelector("#focus-said").textContent)`,
    );
    const farther = lens.told.slice(held);
    assert(
      farther.every((x, i) =>
        i % 2 === 0 ? x.call === "move" && x.speed === 3.5 : x.call === "stop"
      ) && farther.length % 2 === 0,
      `each move stopped before the next: ${JSON.stringify(farther)}`,
    );
    assertEquals(lens.moving, false);
    await page.screenshot({ path: `${SCREENSHOTS}/live-focus.png`, fullPage: true });

    // A tap: one nudge.
    const tapped = lens.told.length;
    await page.click("[aria-label='Focus nearer']");
    await page.waitForFunction(
      `document.querySelector("#focus-said").textContent === "Focused nearer."`,
    );
    assertEquals(lens.told.slice(tapped), [
      { call: "move", source: "VideoSource_1", speed: -3.5 },
      { call: "stop", source: "VideoSource_1" },
    ]);
    await page.click("text=Auto focus");
    await page.waitForFunction(
      `document.querySelector("#focus-said").textContent === "The camera focuses by itself now (auto)."`,
    );
    assertEquals(lens.mode, "AUTO");
    assertEquals(await accessibilityViolations(page), []);

    // The page closed mid-press: the lens is stopped all the same (the cloud sends the stop).
    const closing = lens.told.length;
    await page.hover("[aria-label='Focus nearer']");
    await page.mouse.down();
    await until("a nudge under way", () => lens.told.length > closing && lens.moving);
    await page.close();
    await until("the lens stopped after the page went", () => !lens.moving);
    assertEquals(lens.told.at(-1), { call: "stop", source: "VideoSource_1" });

    // A viewer's live view has no focus buttons.
    const viewerPage = await (await signedInContext(browser, stack.url, viewerSession.cookie))
      .newPage();
    await viewerPage.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assertEquals(await viewerPage.locator("[data-focus]").count(), 0);

    // Each call used the cloud-held credentials, audited via focus.
    const audit = await stack.api("GET", "/api/audit?action=device.credentials.use", q.apiToken);
    const viaFocus = (audit.json.items as { detail: { via: string } }[])
      .filter((e) => e.detail.via === "focus");
    assert(viaFocus.length >= 10, String(viaFocus.length));
  } finally {
    await browser.close();
    await stack.stop();
  }
});
