// A camera's clock from the console, end to end: a real cloud and agent, the fake camera's ONVIF
// device service through the tunnel, its clock 1 h 2 min behind and told to keep time by NTP (that
// its LAN cannot reach). The API reads how far off it is and sets it to the cloud's time
// (`SetSystemDateAndTime` Manual, its time zone and daylight saving as they were, signed with a
// token dated by the camera's own clock), audited with the offsets before and after; a viewer
// (403), another tenant (403) and bad input (400) reach nothing; a camera whose clock cannot be set
// is a 502 in words; a PTZ call right after the setting is signed for the camera's new time, and
// one after its clock moved by itself is made again, signed afresh, when the camera refuses it. In
// Chromium an operator checks the clock, reads how far behind it is and why, and sets it; a
// viewer's page has no such buttons.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import { CameraPtz, CameraTime } from "../_fixtures/onvif_service.ts";
import { accessibilityViolations, launchBrowser, signedInContext } from "../_fixtures/browser.ts";

Deno.test("Camera clock: the API and the live view read how far off a camera's clock is and set it over ONVIF through its tunnel, audited; a viewer, another tenant, bad input and a camera that refuses are refused", async () => {
  const stack = await Stack.start();
  const time = new CameraTime();
  time.offsetMs = -(62 * 60_000);
  const ptz = new CameraPtz();
  const cam = await startCamera({ onvif: { time, ptz } });
  const fixedClock = await startCamera({ onvif: { clockOffsetMs: 90_000 }, hostname: "127.0.0.2" });
  stack.defer(cam.close);
  stack.defer(fixedClock.close);
  // A third camera, two hours ahead: set by the site-wide press.
  const twoHoursAhead = new CameraTime();
  twoHoursAhead.offsetMs = 2 * 3_600_000;
  const farAhead = await startCamera({ onvif: { time: twoHoursAhead }, hostname: "127.0.0.3" });
  stack.defer(farAhead.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([cam.port, 554], "Clock");
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const rtsp = q.device.handles[554];
    const clockOf = (handle: string) => `/api/handles/${handle}/clock`;
    const call = (body: unknown, token = q.apiToken, handle = rtsp) =>
      stack.api("POST", clockOf(handle), token, body);

    const read = await call({ action: "read" });
    assertEquals(read.status, 200, JSON.stringify(read.json));
    const before = read.json.clock as Record<string, unknown>;
    assert(Math.abs((before.offsetSeconds as number) + 62 * 60) <= 2, JSON.stringify(before));
    assertEquals(
      { off: before.off, keptBy: before.keptBy, timeZone: before.timeZone },
      { off: true, keptBy: "NTP", timeZone: "CET-1CEST,M3.5.0,M10.5.0/3" },
    );
    assert(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(before.time as string), String(before.time));
    assertEquals(time.told, [], "reading changes nothing");

    // A PTZ call before: its place (and the camera's clock an hour behind) is kept a minute.
    const stopPtz = () =>
      stack.api("POST", `/api/handles/${rtsp}/ptz`, q.apiToken, {
        action: "stop",
      });
    assertEquals((await stopPtz()).status, 200);
    const set = await call({ action: "set" });
    assertEquals(set.status, 200, JSON.stringify(set.json));
    // Right after the setting, the next PTZ call is signed for the camera's new time.
    const stopAfter = await stopPtz();
    assertEquals(stopAfter.status, 200, JSON.stringify(stopAfter.json));
    assertEquals(ptz.told.map((t) => t.call), ["stop", "stop"]);
    // The camera's clock moves again by itself (NTP; or set from another node, whose setting
    // this node's kept place does not know): the camera refuses the next call's token, which is
    // made once more with its clock read afresh; the operator sees it done.
    time.offsetMs = 45 * 60_000;
    const stopMoved = await stopPtz();
    assertEquals(stopMoved.status, 200, JSON.stringify(stopMoved.json));
    assertEquals(ptz.told.map((t) => t.call), ["stop", "stop", "stop"]);
    time.offsetMs = 0;
    const after = set.json.clock as Record<string, unknown>;
    assertEquals({ off: after.off, keptBy: after.keptBy }, { off: false, keptBy: "Manual" });
    assert(Math.abs(after.offsetSeconds as number) <= 2, JSON.stringify(after));
    assertEquals(time.told.length, 1);
    assertEquals(time.told[0].keptBy, "Manual");
    assertEquals(time.told[0].daylightSavings, "true");
    assertEquals(time.told[0].timeZone, "CET-1CEST,M3.5.0,M10.5.0/3");
    assert(Math.abs(Date.parse(time.told[0].utc) - Date.now()) < 5_000, time.told[0].utc);
    const audit =
      async () => ((await stack.api("GET", "/api/audit?action=device.clock_set", q.apiToken)).json
        .items as {
          actor: string;
          target: string;
          detail: Record<string, number | string>;
        }[]);
    const [entry] = await audit();
    assertEquals(entry.target, q.device.deviceId);
    assertEquals(entry.detail.handle, rtsp);
    assert(Math.abs((entry.detail.offsetSecondsBefore as number) + 62 * 60) <= 2);
    assert(Math.abs(entry.detail.offsetSecondsAfter as number) <= 2);

    // Nobody else, and nothing malformed, reaches the camera.
    for (const bad of [{}, { action: "sync" }, { action: "set", utc: "2020-01-01" }]) {
      const r = await call(bad);
      assertEquals([r.status, r.json.error], [400, "bad_request"], JSON.stringify(r.json));
    }
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const viewerSession = await stack.session(viewer.email, viewer.password);
    const asViewer = await stack.apiAs(viewerSession, "POST", clockOf(rtsp), { action: "set" });
    assertEquals(asViewer.status, 403, JSON.stringify(asViewer.json));
    assertEquals(asViewer.json.message, "this needs the operator role; you are viewer");
    const other = await stack.quickstart([9], "Other");
    assertEquals((await call({ action: "set" }, other.apiToken)).status, 403);
    assertEquals(time.told.length, 1, "nothing more reached the camera");

    // A camera whose clock cannot be set says so; its reading still works.
    const stubborn = await stack.addCamera(q, "127.0.0.2", fixedClock.port);
    const ahead = await call({ action: "read" }, q.apiToken, stubborn);
    assertEquals([ahead.status, ahead.json.clock.off], [200, true]);
    assert(Math.abs(ahead.json.clock.offsetSeconds - 90) <= 2, JSON.stringify(ahead.json));
    const refused = await call({ action: "set" }, q.apiToken, stubborn);
    assertEquals(refused.status, 502, JSON.stringify(refused.json));
    assertEquals(
      refused.json.message,
      "the camera did not set its clock over ONVIF: the camera refused tds:SetSystemDateAndTime " +
        "(HTTP 400)",
    );
    assertEquals((await audit()).length, 1, "a refused setting is not audited as one");

    // The live view: checked (behind, and why), then set.
    time.offsetMs = -(3 * 3_600_000 + 5 * 60_000);
    time.keptBy = "NTP";
    const operator = await stack.addUser(q.tenantId, "operator");
    const cookie = await stack.signIn(operator.email, operator.password);
    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assert(await page.isHidden("[data-clock-set]"), "no setting before the clock was checked");
    await page.click("text=Check the camera's clock");
    await page.waitForSelector("[data-clock-set]:not([hidden])");
    const said = (await page.textContent("#clock-said"))!;
    assert(
      /^The camera's clock is 3 h 5 min behind; it is told to take its time from NTP, which it most likely cannot reach \(time zone CET-1CEST,M3\.5\.0,M10\.5\.0\/3\)\.$/
        .test(said),
      said,
    );
    await page.click("text=Set it to the right time");
    await page.waitForFunction(
      `document.querySelector("#clock-said").textContent.startsWith("Set. The camera's clock is right (within 5 s); it keeps time by itself")`,
    );
    assert(await page.isHidden("[data-clock-set]"), "nothing more to set");
    assertEquals(time.told.length, 2);
    assertEquals((await audit())[0].actor, `user:${operator.userId}`);
    assertEquals(await accessibilityViolations(page), []);

    // The site's cameras at once (an admin): the one off is set, the one right is left, the one
    // that refuses is named; an operator may not.
    const operatorSession = await stack.session(operator.email, operator.password);
    const notAdmin = await stack.apiAs(operatorSession, "POST", `/api/sites/${q.siteId}/clocks`);
    assertEquals(notAdmin.status, 403, JSON.stringify(notAdmin.json));
    await stack.addCamera(q, "127.0.0.3", farAhead.port);
    const admin = await stack.addUser(q.tenantId, "admin");
    const adminPage = await (await signedInContext(
      browser,
      stack.url,
      await stack.signIn(admin.email, admin.password),
    )).newPage();
    /** Presses "Set the cameras' clocks" on the site page: what the page then says. */
    const pressSetClocks = async () => {
      await adminPage.goto(`${stack.url}/sites/${q.siteId}`);
      await Promise.all([
        adminPage.waitForEvent("load"),
        adminPage.click("text=Set the cameras' clocks"),
      ]);
      return (await (await adminPage.waitForSelector(".toast")).textContent())!.trim();
    };
    assertEquals(
      await pressSetClocks(),
      "1 of 3 cameras' clocks were off and are set now (127.0.0.3 was 2 h 0 min ahead); " +
        "127.0.0.2 :554: the camera did not set its clock over ONVIF: the camera refused " +
        "tds:SetSystemDateAndTime (HTTP 400)",
    );
    assertEquals(twoHoursAhead.told.length, 1);
    assert(Math.abs(twoHoursAhead.offsetMs) < 2_000, String(twoHoursAhead.offsetMs));
    assertEquals(time.told.length, 2, "the right clock was left as it was");
    assertEquals(await accessibilityViolations(adminPage), []);

    // A site of more cameras than a request asks (64): the answer pages on with next, and the
    // button asks them all. (These have no web port: each says why at once, nothing is dialed.)
    const bulk = await stack.api("POST", `/api/sites/${q.siteId}/devices/bulk`, q.apiToken, {
      range: "192.0.2.1-192.0.2.66",
      protocols: ["rtsp"],
    });
    assertEquals(bulk.status, 201, JSON.stringify(bulk.json));
    const page1 = await stack.api("POST", `/api/sites/${q.siteId}/clocks`, q.apiToken);
    assertEquals([page1.json.asked, page1.json.remaining, page1.json.next], [64, 5, 64]);
    const page2 = await stack.api("POST", `/api/sites/${q.siteId}/clocks?offset=64`, q.apiToken);
    assertEquals([page2.json.asked, page2.json.remaining, page2.json.next], [5, 0, null]);
    const everyId = new Set(
      [...page1.json.items, ...page2.json.items].map((i: { deviceId: string }) => i.deviceId),
    );
    assertEquals(everyId.size, 69, "each camera once");
    assertEquals(
      await pressSetClocks(),
      "No clock needed setting (2 of 69 cameras answered); 127.0.0.2 :554: the camera did not " +
        "set its clock over ONVIF: the camera refused tds:SetSystemDateAndTime (HTTP 400) " +
        "(and 66 more)",
    );

    // A viewer's live view has no clock buttons.
    const viewerPage = await (await signedInContext(browser, stack.url, viewerSession.cookie))
      .newPage();
    await viewerPage.goto(`${stack.url}/live/${rtsp}?path=/Streaming/Channels/101`);
    assertEquals(await viewerPage.locator("[data-clock]").count(), 0);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
