// A camera's own recording played from the live view, end to end: a real cloud and agent, the fake
// camera's ONVIF recording, replay and search services through the tunnel, and GStreamer's camera
// behind a replaying front (rtsp.ts `replayProxy`) as its RTSP side. The API says where the
// recording is and what it holds; a camera that keeps none is a 502 in words; another tenant is a
// 403; a `from` that is not an instant is a 400. In Chromium a viewer (in Tokyo) asks, chooses
// 03:00 on 6 December in her own time and plays: the camera is asked with `Require:
// onvif-replay` on every request and PLAY `Range: clock=20261205T180000Z-`, the picture moves,
// the page says which time it plays; "30 s on", "Pause" (which ends the camera's session) and "30 s
// back" ask the camera afresh from the instant on the screen, the page's address following, as
// does a reconnection after the camera's connection drops;
// "Back to live" plays live again without them; a motion
// alert's "Play the recording", and the Events page's "Watch the recording" (an alert email's
// link too), play it from 10 s before the motion.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until, untilValue } from "../_fixtures/until.ts";
import { startCamera as startWebCamera } from "../_fixtures/camera.ts";
import { replayProxy, startCamera as startRtspCamera } from "../_fixtures/rtsp.ts";
import { CameraEvents, CameraRecordings, ONVIF_REPLAY_PATH } from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

Deno.test("Recording: a camera's own recording found over ONVIF and played in Chromium from a time in the viewer's zone, with onvif-replay and a clock range; back to live; refusals in words", async () => {
  const stack = await Stack.start();
  const recordings = new CameraRecordings();
  const events = new CameraEvents();
  const web = await startWebCamera({
    onvif: { recordings, events, clockOffsetMs: -3_600_000 },
  });
  const rtsp = await startRtspCamera();
  const replaying = replayProxy(rtsp.port, ONVIF_REPLAY_PATH, rtsp.path);
  const plain = await startWebCamera({ onvif: {}, hostname: "127.0.0.2" });
  stack.defer(web.close);
  stack.defer(rtsp.close);
  stack.defer(replaying.close);
  stack.defer(plain.close);
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([web.port, replaying.port], "Recorder");
    const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      protocols: { [replaying.port]: "rtsp" },
    });
    assertEquals(patched.status, 200, JSON.stringify(patched.json));
    await stack.agentFor(q);
    await stack.holdCredentials(q, { username: "admin", password: "12345" });
    const handle = q.device.handles[replaying.port];

    // Where the recording is and what it holds.
    const asked = await stack.api("POST", `/api/handles/${handle}/recording`, q.apiToken);
    assertEquals([asked.status, asked.json], [200, {
      path: ONVIF_REPLAY_PATH,
      from: "2026-12-01T00:00:00Z",
      until: "2026-12-06T23:59:59Z",
    }]);
    // Refused in words: a camera that keeps none, another tenant, a time that is not one.
    const none = await stack.api(
      "POST",
      `/api/handles/${await stack.addCamera(q, "127.0.0.2", plain.port)}/recording`,
      q.apiToken,
    );
    assertEquals(none.status, 502, JSON.stringify(none.json));
    assertEquals(
      none.json.message,
      "the camera did not say where its recording is over ONVIF: the camera has no recording " +
        "service over ONVIF: it keeps no recording the cloud can play (play it from the " +
        "camera's own web page)",
    );
    const other = await stack.quickstart([9], "Other");
    assertEquals(
      (await stack.api("POST", `/api/handles/${handle}/recording`, other.apiToken)).status,
      403,
    );
    const badFrom = await stack.api(
      "GET",
      `/api/live/${handle}?path=${encodeURIComponent(ONVIF_REPLAY_PATH)}&from=yesterday`,
      q.apiToken,
    );
    assertEquals(badFrom.status, 400, JSON.stringify(badFrom.json));
    assertEquals(badFrom.json.message, "from: an instant in UTC, as 2026-12-06T03:00:00Z");

    // A viewer in Tokyo plays 03:00 on 6 December, her time.
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(viewer.email, viewer.password);
    const context = await signedInContext(browser, stack.url, cookie, {
      timezoneId: "Asia/Tokyo",
    });
    const page = await context.newPage();
    await page.goto(`${stack.url}/live/${handle}?path=${encodeURIComponent(rtsp.path)}`);
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assert(
      replaying.requests.every((r) => r.require === null),
      "live is asked without onvif-replay",
    );
    await page.click("[data-recording-start]");
    await page.waitForSelector(".recording-play:not([hidden])");
    const said = (await page.textContent("#recording-said"))!;
    assert(said.startsWith("It holds pictures from "), said);
    assertEquals(await page.getAttribute("#recording-from", "max"), "2026-12-07T08:59:59");
    await page.fill("#recording-from", "2026-12-06T03:00:00");
    const before = replaying.requests.length;
    await Promise.all([page.waitForURL(/from=/), page.click(".recording-play button")]);
    const url = new URL(page.url());
    assertEquals(url.searchParams.get("from"), "2026-12-05T18:00:00Z");
    assertEquals(url.searchParams.get("replay"), ONVIF_REPLAY_PATH);
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await page.waitForFunction(
      `document.querySelector("video[data-live]").currentTime > 0.5`,
      null,
      { timeout: 30_000 },
    );
    const replayed = replaying.requests.slice(before);
    assertEquals(replayed[0].method, "DESCRIBE");
    assert(replayed[0].uri.endsWith(ONVIF_REPLAY_PATH), replayed[0].uri);
    assert(
      replayed.every((r) => r.require === "onvif-replay"),
      `every request requires onvif-replay: ${JSON.stringify(replayed)}`,
    );
    const play = replayed.find((r) => r.method === "PLAY")!;
    assertEquals([play.range, play.rateControl], ["clock=20261205T180000Z-", "yes"]);
    const banner = (await page.textContent(".recording-now"))!;
    assert(banner.startsWith("Recording from ") && banner.endsWith("Back to live"), banner);
    assertEquals(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${SCREENSHOTS}/live-recording.png`, fullPage: true });

    // Moving in the recording. The instant on the screen moves on from 18:00:00 as it plays.
    const onScreen = async () =>
      Date.parse((await page.getAttribute("#recording-at", "datetime"))!);
    const fromOfUrl = () => Date.parse(new URL(page.url()).searchParams.get("from")!);
    const clock = (ms: number) =>
      `clock=${new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-`;
    // The next PLAY the camera is asked, from the request numbered `n` on.
    const nextPlay = (n: number) =>
      untilValue(
        "the camera asked to play",
        () => replaying.requests.slice(n).find((r) => r.method === "PLAY") ?? null,
      );
    await until(
      "the instant on the screen moves",
      async () => await onScreen() > Date.parse("2026-12-05T18:00:00Z"),
    );
    // "30 s on": the camera is asked afresh, 30 s on from the instant on the screen; the page's
    // address follows (a reload plays from there).
    let n = replaying.requests.length;
    const shown = await onScreen();
    const pressed = Date.now();
    await page.click("text=30 s on");
    const took = Date.now() - pressed;
    const on = fromOfUrl();
    assert(
      on >= shown + 30_000 && on <= shown + 30_000 + took + 2_000,
      `30 s on from ${new Date(shown).toISOString()}: ${new Date(on).toISOString()}`,
    );
    assertEquals((await nextPlay(n)).range, clock(on));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await until("playing on from there", async () => await onScreen() > on);
    // A pause ends the camera's session (nothing held on the camera or the tunnel) and keeps
    // the instant; playing on asks the camera from that same second.
    await page.click("[data-recording-pause]");
    await page.waitForSelector("video[data-state=paused]");
    assertEquals(await page.getAttribute("[data-recording-pause]", "aria-pressed"), "true");
    await until("the camera's session ended", () => replaying.sessions() === 0);
    const pausedAt = fromOfUrl();
    assert(pausedAt >= on, `paused at ${new Date(pausedAt).toISOString()}`);
    assertEquals(await onScreen(), pausedAt);
    assert(
      (await page.textContent("#recording-moved"))!.startsWith("Paused at "),
      "the pause is said",
    );
    n = replaying.requests.length;
    await page.click("[data-recording-pause]");
    assertEquals((await nextPlay(n)).range, clock(pausedAt));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assertEquals(await page.getAttribute("[data-recording-pause]", "aria-pressed"), "false");
    // "30 s back" from a little after the pause.
    n = replaying.requests.length;
    await page.click("text=30 s back");
    const back = fromOfUrl();
    assert(
      back >= pausedAt - 30_000 && back < pausedAt,
      `30 s back from ${new Date(pausedAt).toISOString()}: ${new Date(back).toISOString()}`,
    );
    assertEquals((await nextPlay(n)).range, clock(back));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assert(replaying.requests.slice(n).every((r) => r.require === "onvif-replay"));
    // The camera's connection dropped: the player plays on from the instant on the screen, not
    // from where it was first asked.
    await until("played on a while", async () => await onScreen() >= back + 2_000);
    n = replaying.requests.length;
    replaying.drop();
    const again = await nextPlay(n);
    const resumed = fromOfUrl();
    assert(resumed >= back + 2_000, `played on from ${new Date(resumed).toISOString()}`);
    assertEquals(again.range, clock(resumed));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assertEquals(await accessibilityViolations(page), []);
    // Audited as a live view of the recording from that time.
    await until("the replay audited", async () => {
      const audit = await stack.api("GET", "/api/audit?action=live.open", q.apiToken);
      return (audit.json.items as { detail: Record<string, unknown> }[]).some((e) =>
        e.detail.recordingFrom === "2026-12-05T18:00:00.000Z"
      );
    });

    // Back to live: played again without onvif-replay.
    const replayEnd = replaying.requests.length;
    await Promise.all([
      page.waitForURL((u) => !u.search.includes("from=")),
      page.click("text=Back to live"),
    ]);
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await until(
      "live asked again",
      () => replaying.requests.slice(replayEnd).some((r) => r.method === "PLAY"),
    );
    assert(replaying.requests.slice(replayEnd).every((r) => r.require === null));

    // An alert's "Play the recording": from 10 s before the motion it reports.
    const motionOn = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      motionAlerts: true,
    });
    assertEquals(motionOn.status, 200, JSON.stringify(motionOn.json));
    events.motion(true);
    const motion = await untilValue("the motion event", async () => {
      const r = await stack.api(
        "GET",
        `/api/events?device=${q.device.deviceId}&type=camera.motion`,
        q.apiToken,
      );
      return (r.json.items as { at: string }[])[0] ?? null;
    });
    await page.reload();
    await Promise.all([
      page.waitForURL(/from=/),
      page.click(`li[data-type="camera.motion"] >> text=Play the recording`),
    ]);
    assertEquals(
      new URL(page.url()).searchParams.get("from"),
      new Date(Date.parse(motion.at) - 10_000).toISOString().replace(/\.\d+Z$/, "Z"),
    );
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });

    // The Events page's "Watch the recording" (as an alert email's link): the live view at the
    // alert's moment plays the recording from 10 s before it, at once.
    await page.goto(`${stack.url}/events`);
    const [tab] = await Promise.all([
      context.waitForEvent("page"),
      page.click(`tr[data-type="camera.motion"] >> text=Watch the recording`),
    ]);
    await tab.waitForURL(/from=/, { timeout: 30_000 });
    assertEquals(
      new URL(tab.url()).searchParams.get("from"),
      new Date(Math.floor(Date.parse(motion.at) / 1000) * 1000 - 10_000).toISOString()
        .replace(/\.\d+Z$/, "Z"),
    );
    await tab.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
  } finally {
    await browser.close();
    await stack.stop();
  }
});
