// Restarting a camera from the console, end to end: a real cloud and agent, the fake camera's
// ONVIF device service through the tunnel (its clock an hour off). The API restarts it
// (`SystemReboot`, signed with the cloud-held credentials) and passes on what it said; the
// restart is audited with who asked; a viewer (403) and another tenant (403) reach nothing; a
// camera that refuses is a 502 in words. In Chromium an operator's "Restart the camera" asks to
// confirm — dismissed, nothing is sent — then says what the camera said; a viewer's page has no
// such button.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { CameraReboot } from "../_fixtures/onvif_service.ts";
import { accessibilityViolations, launchBrowser, signedInContext } from "../_fixtures/browser.ts";

Deno.test("Restart: the API and the live view restart a camera over ONVIF through its tunnel, confirmed and audited; a viewer, another tenant and a camera that refuses are refused", async () => {
  const stack = await Stack.start();
  const restarts = new CameraReboot();
  const cam = await startCamera({ onvif: { reboot: restarts, clockOffsetMs: -3_600_000 } });
  const stubborn = await startCamera({ onvif: {}, hostname: "127.0.0.2" });
  stack.defer(cam.close);
  stack.defer(stubborn.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "Restart");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const rtsp = q.device.handles[554];
    const rebootOf = (handle: string) => `/api/handles/${handle}/reboot`;

    const done = await stack.api("POST", rebootOf(rtsp), q.apiToken);
    assertEquals([done.status, done.json], [200, {
      ok: true,
      message: "Rebooting in 30 seconds",
    }]);
    assertEquals(restarts.count, 1);
    const audit =
      async () => ((await stack.api("GET", "/api/audit?action=device.reboot", q.apiToken)).json
        .items as {
          actor: string;
          target: string;
          detail: Record<string, unknown>;
        }[]);
    const [first] = await audit();
    assertEquals(first.target, q.device.deviceId);
    assertEquals(first.detail, { handle: rtsp, message: "Rebooting in 30 seconds" });

    // Nobody else restarts it.
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const viewerSession = await stack.session(viewer.email, viewer.password);
    const asViewer = await stack.apiAs(viewerSession, "POST", rebootOf(rtsp));
    assertEquals(asViewer.status, 403, JSON.stringify(asViewer.json));
    assertEquals(asViewer.json.message, "this needs the operator role; you are viewer");
    const other = await stack.quickstart([9], "Other");
    const foreign = await stack.api("POST", rebootOf(rtsp), other.apiToken);
    assertEquals(foreign.status, 403, JSON.stringify(foreign.json));
    assertEquals(restarts.count, 1, "nothing more reached the camera");

    // A camera that refuses says so.
    const refused = await stack.api(
      "POST",
      rebootOf(await stack.addCamera(q, "127.0.0.2", stubborn.port)),
      q.apiToken,
    );
    assertEquals(refused.status, 502, JSON.stringify(refused.json));
    assertEquals(
      refused.json.message,
      "the camera did not restart over ONVIF: the camera refused tds:SystemReboot (HTTP 400)",
    );
    assertEquals((await audit()).length, 1, "a refused restart is not audited as one");

    // The live view: confirmed first; dismissed, nothing is sent.
    restarts.message = "Rebooting now & back in 1 min";
    const operator = await stack.addUser(q.tenantId, "operator");
    const cookie = await stack.signIn(operator.email, operator.password);
    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    const asked: string[] = [];
    page.once("dialog", (d) => {
      asked.push(d.message());
      return d.dismiss();
    });
    await page.click("text=Restart the camera");
    await page.waitForTimeout(300);
    assertEquals(restarts.count, 1, "dismissed: not restarted");
    assert(asked[0]?.startsWith("Restart "), asked.join());
    page.once("dialog", (d) => d.accept());
    await page.click("text=Restart the camera");
    await page.waitForFunction(
      `document.querySelector("#reboot-said").textContent === "The camera is restarting (it said “Rebooting now & back in 1 min”). The picture comes back by itself when it is up."`,
    );
    assertEquals(restarts.count, 2);
    assert(await page.isDisabled("button[data-reboot]"), "one restart at a time");
    assertEquals((await audit())[0].actor, `user:${operator.userId}`);
    assertEquals(await accessibilityViolations(page), []);

    // A viewer's live view has no restart.
    const viewerPage = await (await signedInContext(browser, stack.url, viewerSession.cookie))
      .newPage();
    await viewerPage.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assertEquals(await viewerPage.locator("[data-reboot]").count(), 0);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
