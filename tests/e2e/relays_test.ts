// A camera's alarm outputs from the console, end to end: a real cloud and agent, the fake
// camera's ONVIF device service through the tunnel (its clock an hour off), a gate on a
// monostable output (a 5 s pulse) and a light on a bistable one. The API lists them and triggers
// or switches one, audited with who did it; an unknown output is the camera's refusal, unaudited;
// bad input (400), a viewer (403) and another tenant (403) reach nothing; a camera without
// outputs says so. In Chromium an operator lists them, triggers the gate — confirmation dismissed
// first: nothing happens — and switches the light on and off; a viewer's page has no outputs.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { CameraRelays } from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

Deno.test("Alarm outputs: the API and the live view list a camera's relay outputs and trigger or switch them over ONVIF through its tunnel, confirmed and audited; bad input, a viewer, another tenant and unknown outputs are refused", async () => {
  const stack = await Stack.start();
  const relays = new CameraRelays();
  const cam = await startCamera({ onvif: { relays, clockOffsetMs: -3_600_000 } });
  const plain = await startCamera({ onvif: {}, hostname: "127.0.0.2" });
  stack.defer(cam.close);
  stack.defer(plain.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "Outputs");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const rtsp = q.device.handles[554];
    const relaysOf = (handle: string) => `/api/handles/${handle}/relays`;

    const listed = await stack.api("GET", relaysOf(rtsp), q.apiToken);
    assertEquals([listed.status, listed.json], [200, {
      relays: [
        { token: "AlarmOut_0", mode: "Monostable", delaySeconds: 5 },
        { token: "AlarmOut_1", mode: "Bistable", delaySeconds: 0 },
      ],
    }]);
    const gate = await stack.api("POST", relaysOf(rtsp), q.apiToken, {
      token: "AlarmOut_0",
      state: "active",
    });
    assertEquals([gate.status, gate.json], [200, {
      ok: true,
      token: "AlarmOut_0",
      state: "active",
    }]);
    assertEquals(relays.told, [{ token: "AlarmOut_0", state: "active" }]);
    const audit =
      async () => ((await stack.api("GET", "/api/audit?action=device.relay", q.apiToken)).json
        .items as {
          actor: string;
          target: string;
          detail: Record<string, unknown>;
        }[]);
    const [entry] = await audit();
    assertEquals(entry.target, q.device.deviceId);
    assertEquals(entry.detail, { handle: rtsp, token: "AlarmOut_0", state: "active" });

    // An output the camera does not have is its refusal, not a relay worked.
    const unknown = await stack.api("POST", relaysOf(rtsp), q.apiToken, {
      token: "AlarmOut_9",
      state: "active",
    });
    assertEquals(unknown.status, 502, JSON.stringify(unknown.json));
    assertEquals(
      unknown.json.message,
      "the camera did not switch its output over ONVIF: the camera refused " +
        "tds:SetRelayOutputState (HTTP 400: Invalid relay output)",
    );
    assertEquals((await audit()).length, 1);

    // Nobody else, and nothing malformed, reaches the camera.
    for (
      const bad of [
        {},
        { token: "AlarmOut_0" },
        { token: "AlarmOut_0", state: "open" },
        { token: "", state: "active" },
        { token: "a b", state: "active" },
        { token: "AlarmOut_0", state: "active", pulse: 3 },
      ]
    ) {
      const r = await stack.api("POST", relaysOf(rtsp), q.apiToken, bad);
      assertEquals([r.status, r.json.error], [400, "bad_request"], JSON.stringify(r.json));
    }
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const viewerSession = await stack.session(viewer.email, viewer.password);
    const asViewer = await stack.apiAs(viewerSession, "POST", relaysOf(rtsp), {
      token: "AlarmOut_0",
      state: "active",
    });
    assertEquals(asViewer.status, 403, JSON.stringify(asViewer.json));
    assertEquals(asViewer.json.message, "this needs the operator role; you are viewer");
    assertEquals((await stack.apiAs(viewerSession, "GET", relaysOf(rtsp))).status, 403);
    const other = await stack.quickstart([9], "Other");
    const foreign = await stack.api("POST", relaysOf(rtsp), other.apiToken, {
      token: "AlarmOut_0",
      state: "active",
    });
    assertEquals(foreign.status, 403, JSON.stringify(foreign.json));
    assertEquals(relays.told.length, 1, "nothing more reached the camera");

    // A camera without outputs.
    const none = await stack.api(
      "GET",
      relaysOf(await stack.addCamera(q, "127.0.0.2", plain.port)),
      q.apiToken,
    );
    assertEquals(none.status, 502, JSON.stringify(none.json));
    assertEquals(
      none.json.message,
      "the camera did not list its outputs over ONVIF: the camera refused tds:GetRelayOutputs " +
        "(HTTP 400)",
    );

    // The live view.
    const operator = await stack.addUser(q.tenantId, "operator");
    const cookie = await stack.signIn(operator.email, operator.password);
    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    await page.click("text=Alarm outputs");
    await page.waitForSelector(".relay-list:not([hidden])");
    assertEquals(
      (await page.locator(".relay-list li").allTextContents()).map((t) => t.trim()),
      ["AlarmOut_0 (pulses 5 s)Trigger", "AlarmOut_1OnOff"],
    );
    const asked: string[] = [];
    page.once("dialog", (d) => {
      asked.push(d.message());
      return d.dismiss();
    });
    await page.click("[aria-label='Trigger AlarmOut_0']");
    await page.waitForTimeout(300);
    assertEquals(relays.told.length, 1, "dismissed: nothing happened");
    assert(
      asked[0]?.startsWith("Trigger AlarmOut_0 on ") &&
        asked[0].endsWith("What is wired to it (a gate, a door, a siren) acts at once."),
      asked.join(),
    );
    page.once("dialog", (d) => d.accept());
    await page.click("[aria-label='Trigger AlarmOut_0']");
    await page.waitForFunction(
      `document.querySelector("#relays-said").textContent === "Triggered AlarmOut_0: it goes back by itself after 5 s."`,
    );
    page.once("dialog", (d) => d.accept());
    await page.click("[aria-label='On: AlarmOut_1']");
    await page.waitForFunction(
      `document.querySelector("#relays-said").textContent === "AlarmOut_1 is on."`,
    );
    await page.click("[aria-label='Off: AlarmOut_1']");
    await page.waitForFunction(
      `document.querySelector("#relays-said").textContent === "AlarmOut_1 is off."`,
    );
    assertEquals(relays.told.slice(1), [
      { token: "AlarmOut_0", state: "active" },
      { token: "AlarmOut_1", state: "active" },
      { token: "AlarmOut_1", state: "inactive" },
    ]);
    assertEquals(relays.state.get("AlarmOut_1"), "inactive");
    assertEquals((await audit())[0].actor, `user:${operator.userId}`);
    assertEquals(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${SCREENSHOTS}/live-controls.png`, fullPage: true });

    // A viewer's live view has no outputs.
    const viewerPage = await (await signedInContext(browser, stack.url, viewerSession.cookie))
      .newPage();
    await viewerPage.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assertEquals(await viewerPage.locator("[data-relays]").count(), 0);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
