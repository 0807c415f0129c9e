// Pan, tilt and zoom from the live view, end to end: a real cloud and agent, the fake camera's
// ONVIF PTZ service through the tunnel (its clock an hour off). The API moves and stops it
// (ContinuousMove with a 2 s timeout on the profile that has PTZ, then Stop) and lists and goes
// to its presets (an unknown one is the camera's refusal); it refuses speeds out of range and
// unknown actions with a 400 before anything reaches the camera, a viewer (403) and another
// tenant (403); a camera without PTZ is a 502 in words; one whose PTZ service only GetServices
// names (not GetCapabilities) moves. In Chromium an operator asks the camera
// on its live page, holds "Pan right" (the move repeated while held, a stop when let go), "Zoom
// in" from the keyboard, sends it to the preset "Gate", saves and removes a preset, and tilts it
// at the slow speed (kept by the browser for the next visit); a viewer's page has no pad. Presets
// saved (over the one of the same name) and removed through the API are audited. Each call
// is audited as a use of the cloud-held credentials via `ptz`.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { CameraPtz } from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

Deno.test("PTZ: the API and the live view's pad move and stop a camera over ONVIF through its tunnel; bad input, a viewer, another tenant and a camera without PTZ are refused", async () => {
  const stack = await Stack.start();
  const ptz = new CameraPtz();
  const cam = await startCamera({ onvif: { ptz, clockOffsetMs: -3_600_000 } });
  const fixed = await startCamera({ onvif: {}, hostname: "127.0.0.2" });
  // A camera whose capabilities leave PTZ out; only its services list it.
  const quiet = new CameraPtz();
  quiet.inCapabilities = false;
  const unlisted = await startCamera({ onvif: { ptz: quiet }, hostname: "127.0.0.3" });
  stack.defer(cam.close);
  stack.defer(fixed.close);
  stack.defer(unlisted.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "PTZ");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const rtsp = q.device.handles[554];
    const call = (path: string, body: unknown, token = q.apiToken) =>
      stack.api("POST", path, token, body);
    const ptzOf = (handle: string) => `/api/handles/${handle}/ptz`;

    // The API: a move, then a stop, each told to the profile that has PTZ.
    const moved = await call(ptzOf(rtsp), { action: "move", pan: 0.5 });
    assertEquals([moved.status, moved.json], [200, { ok: true, action: "move" }]);
    const stopped = await call(ptzOf(rtsp), { action: "stop" });
    assertEquals(stopped.status, 200, JSON.stringify(stopped.json));
    assertEquals(ptz.told, [
      { call: "move", profile: "Profile_1", pan: 0.5, tilt: 0, zoom: 0, timeout: "PT2S" },
      { call: "stop", profile: "Profile_1" },
    ]);

    // Its presets, listed by name, and one gone to.
    const listed = await stack.api("GET", `${ptzOf(rtsp)}/presets`, q.apiToken);
    assertEquals(listed.status, 200, JSON.stringify(listed.json));
    assertEquals(listed.json.presets, [
      { token: "1", name: "Gate" },
      { token: "2", name: "Car park & gate" },
      { token: "3", name: "3" },
    ]);
    const went = await call(ptzOf(rtsp), { action: "preset", preset: "2" });
    assertEquals([went.status, went.json], [200, { ok: true, action: "preset" }]);
    assertEquals(ptz.told.at(-1), { call: "preset", profile: "Profile_1", preset: "2" });
    const unknown = await call(ptzOf(rtsp), { action: "preset", preset: "99" });
    assertEquals(unknown.status, 502, JSON.stringify(unknown.json));
    assert(
      String(unknown.json.message).startsWith(
        "the camera did not go to its preset over ONVIF: the camera refused tptz:GotoPreset",
      ),
      String(unknown.json.message),
    );
    const again = await call(ptzOf(rtsp), { action: "stop" });
    assertEquals(again.status, 200, "the next call asks the camera again after a refusal");

    // Where it points, saved by a name: a new preset, then over the one of the same name; a
    // preset removed. Each in the audit log with who did it.
    const saved = await call(ptzOf(rtsp), { action: "save", name: " Dock & yard " });
    assertEquals([saved.status, saved.json], [200, {
      ok: true,
      action: "save",
      preset: { token: "4", name: "Dock & yard", replaced: false },
    }]);
    assertEquals(ptz.told.at(-1), {
      call: "save",
      profile: "Profile_1",
      name: "Dock & yard",
      preset: null,
    });
    const over = await call(ptzOf(rtsp), { action: "save", name: "Gate" });
    assertEquals(over.json.preset, { token: "1", name: "Gate", replaced: true });
    assertEquals(ptz.told.at(-1), {
      call: "save",
      profile: "Profile_1",
      name: "Gate",
      preset: "1",
    });
    const removed = await call(ptzOf(rtsp), { action: "remove", preset: "4" });
    assertEquals([removed.status, removed.json], [200, { ok: true, action: "remove" }]);
    assertEquals(
      (await stack.api("GET", `${ptzOf(rtsp)}/presets`, q.apiToken)).json.presets,
      listed.json.presets,
    );
    const gone = await call(ptzOf(rtsp), { action: "remove", preset: "4" });
    assertEquals(gone.status, 502, JSON.stringify(gone.json));
    assert(
      String(gone.json.message).startsWith("the camera did not remove the preset over ONVIF"),
      String(gone.json.message),
    );
    const presetAudit = async (action: string) =>
      ((await stack.api("GET", `/api/audit?action=${action}`, q.apiToken)).json.items as {
        actor: string;
        detail: Record<string, unknown>;
      }[]).map((e) => e.detail);
    assertEquals(await presetAudit("device.ptz_preset_save"), [
      { handle: rtsp, token: "1", name: "Gate", replaced: true },
      { handle: rtsp, token: "4", name: "Dock & yard", replaced: false },
    ]);
    assertEquals(await presetAudit("device.ptz_preset_remove"), [{ handle: rtsp, token: "4" }]);

    // Refused before anything reaches the camera.
    const toldBefore = ptz.told.length;
    for (
      const bad of [
        { action: "move", pan: 2 },
        { action: "spin" },
        { action: "stop", x: 1 },
        { action: "preset", preset: "" },
        { action: "preset", preset: "a b" },
        { action: "save", name: "  " },
        { action: "save", name: "Gate\n2" },
        { action: "save", name: "x".repeat(65) },
        { action: "remove" },
      ]
    ) {
      const r = await call(ptzOf(rtsp), bad);
      assertEquals([r.status, r.json.error], [400, "bad_request"], JSON.stringify(r.json));
    }
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const viewerSession = await stack.session(viewer.email, viewer.password);
    const asViewer = await stack.apiAs(viewerSession, "POST", ptzOf(rtsp), { action: "stop" });
    assertEquals(asViewer.status, 403, JSON.stringify(asViewer.json));
    assertEquals(asViewer.json.message, "this needs the operator role; you are viewer");
    const other = await stack.quickstart([9], "Other");
    const foreign = await call(ptzOf(rtsp), { action: "stop" }, other.apiToken);
    assertEquals(foreign.status, 403, JSON.stringify(foreign.json));
    assertEquals(ptz.told.length, toldBefore, "nothing more reached the camera");

    // A camera that cannot move says so.
    const cannot = await call(ptzOf(await stack.addCamera(q, "127.0.0.2", fixed.port)), {
      action: "stop",
    });
    assertEquals(cannot.status, 502, JSON.stringify(cannot.json));
    assertEquals(
      cannot.json.message,
      "the camera did not stop over ONVIF: the camera has no PTZ service over ONVIF: it cannot " +
        "pan, tilt or zoom",
    );

    // One whose PTZ service only GetServices names moves as well.
    const viaServices = await call(ptzOf(await stack.addCamera(q, "127.0.0.3", unlisted.port)), {
      action: "move",
      tilt: 1,
    });
    assertEquals(viaServices.status, 200, JSON.stringify(viaServices.json));
    assertEquals(quiet.told, [
      { call: "move", profile: "Profile_1", pan: 0, tilt: 1, zoom: 0, timeout: "PT2S" },
    ]);

    // The live view: an operator asks, then holds "Pan right", then "Zoom in" from the keyboard.
    const operator = await stack.addUser(q.tenantId, "operator");
    const cookie = await stack.signIn(operator.email, operator.password);
    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assert(await page.isHidden(".ptz-pad"), "no pad before the camera said it can move");
    await page.click("text=Pan / tilt / zoom");
    await page.waitForSelector(".ptz-pad:not([hidden])");
    assertEquals(
      await page.textContent("#ptz-said"),
      "Hold a button to move the camera; it stops when you let go.",
    );
    const told = ptz.told.length;
    await page.hover("[aria-label='Pan right']");
    await page.mouse.down();
    // Held: moved, and moved again while held (the camera would stop 2 s after the last).
    await until(
      "the move repeated while held",
      () => ptz.told.slice(told).filter((x) => x.call === "move").length >= 2,
    );
    await page.mouse.up();
    await until("a stop when let go", () => ptz.told.at(-1)?.call === "stop");
    const moves = ptz.told.slice(told).filter((x) => x.call === "move");
    assert(
      moves.every((m) => m.pan === 0.5 && m.tilt === 0 && m.zoom === 0),
      JSON.stringify(moves),
    );
    await page.screenshot({ path: `${SCREENSHOTS}/live-ptz.png`, fullPage: true });

    const before = ptz.told.length;
    await page.focus("[aria-label='Zoom in']");
    await page.keyboard.down("Enter");
    await until("a zoom from the keyboard", () => ptz.told.length > before);
    await page.keyboard.up("Enter");
    await until("a stop when the key is let go", () => ptz.told.at(-1)?.call === "stop");
    const zoom = ptz.told.slice(before).find((x) => x.call === "move");
    assertEquals(zoom, {
      call: "move",
      profile: "Profile_1",
      pan: 0,
      tilt: 0,
      zoom: 0.5,
      timeout: "PT2S",
    });
    // A preset by its name.
    await page.waitForSelector(".ptz-presets:not([hidden])");
    assertEquals(await page.locator("#ptz-preset option").allTextContents(), [
      "Gate",
      "Car park & gate",
      "3",
    ]);
    await page.selectOption("#ptz-preset", { label: "Gate" });
    await page.click("[data-ptz-goto]");
    await until("the camera sent to Gate", () => ptz.told.at(-1)?.call === "preset");
    assertEquals(ptz.told.at(-1), { call: "preset", profile: "Profile_1", preset: "1" });
    await page.waitForFunction(
      `document.querySelector("#ptz-said").textContent === "Going to Gate."`,
    );
    // Saved from the page: the new preset is listed and chosen; then removed (confirmed).
    await page.fill("#ptz-save-name", "Loading bay");
    await page.click(".ptz-save button");
    await page.waitForFunction(
      `document.querySelector("#ptz-said").textContent === "Saved as “Loading bay”."`,
    );
    assertEquals(
      await page.locator("#ptz-preset option:checked").textContent(),
      "Loading bay",
    );
    page.once("dialog", (d) => d.accept());
    await page.click("[data-ptz-remove]");
    await page.waitForFunction(
      `document.querySelector("#ptz-said").textContent === "Removed “Loading bay”."`,
    );
    assertEquals(await page.locator("#ptz-preset option").allTextContents(), [
      "Gate",
      "Car park & gate",
      "3",
    ]);
    assertEquals(await accessibilityViolations(page), []);

    // Slow, to aim: the moves go at 0.2, and this browser keeps the choice for the next camera.
    assertEquals(await page.inputValue("#ptz-speed"), "0.5");
    await page.selectOption("#ptz-speed", { label: "Slow" });
    const slow = ptz.told.length;
    await page.hover("[aria-label='Tilt down']");
    await page.mouse.down();
    await until("a slow tilt", () => ptz.told.slice(slow).some((x) => x.call === "move"));
    await page.mouse.up();
    await until("a stop after the slow tilt", () => ptz.told.at(-1)?.call === "stop");
    const tilts = ptz.told.slice(slow).filter((x) => x.call === "move");
    assert(
      tilts.every((m) => m.pan === 0 && m.tilt === -0.2 && m.zoom === 0),
      JSON.stringify(tilts),
    );
    await page.reload();
    await page.click("text=Pan / tilt / zoom");
    await page.waitForSelector(".ptz-pad:not([hidden])");
    assertEquals(await page.inputValue("#ptz-speed"), "0.2");

    // A viewer's live view has no pad.
    const viewerPage = await (await signedInContext(browser, stack.url, viewerSession.cookie))
      .newPage();
    await viewerPage.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assertEquals(await viewerPage.locator("[data-ptz]").count(), 0);

    // Each call used the cloud-held credentials, audited via ptz.
    const audit = await stack.api(
      "GET",
      "/api/audit?action=device.credentials.use",
      q.apiToken,
    );
    const viaPtz = (audit.json.items as { detail: { via: string } }[])
      .filter((e) => e.detail.via === "ptz");
    assert(viaPtz.length >= 10, String(viaPtz.length));
  } finally {
    await browser.close();
    await stack.stop();
  }
});
