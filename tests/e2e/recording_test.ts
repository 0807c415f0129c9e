// A camera's own recording played from the live view, end to end: a real cloud and agent, the fake
// camera's ONVIF recording, replay and search services through the tunnel, and GStreamer's camera
// behind a replaying front (rtsp.ts `replayProxy`) as its RTSP side. The API says where the
// recording is and what it holds; a camera that keeps none is a 502 in words; another tenant is a
// 403; a `from` that is not an instant is a 400. In Chromium a viewer (in Tokyo) asks, chooses
// 03:00 on 6 December in her own time and plays: the camera is asked with `Require:
// onvif-replay` on every request and PLAY `Range: clock=20261205T180000Z-`, the picture moves,
// the page says which time it plays; "30 s on", "Pause" (which ends the camera's session) and "30 s
// back" ask the camera afresh from the instant on the screen, the page's address following, as
// does a reconnection after the camera's connection drops; "Save a clip from here" and "Save the
// picture" give files a player opens; "Back to live" plays live again without them; a motion
// alert's "Play the recording" (and its "Save a clip"), and the Events page's "Watch the
// recording" (an alert email's link too), play it from 10 s before the motion. The search of the
// recording (what happened) and an NVR's several recordings have tests of their own below.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until, untilValue } from "../_fixtures/until.ts";
import { startCamera as startWebCamera } from "../_fixtures/camera.ts";
import { probeFile, replayProxy, startCamera as startRtspCamera } from "../_fixtures/rtsp.ts";
import {
  CameraEvents,
  CameraRecordings,
  ONVIF_REPLAY_PATH,
  ONVIF_REPLAY_PATHS,
  type OnvifOptions,
} from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";
import type { Browser, Page } from "playwright-core";

/**
 * A camera that records, in a stack: the fake camera's ONVIF services (`onvif`) on its web port,
 * GStreamer's camera behind a replaying front as its RTSP port, its credentials held, its agent
 * up; and a camera at 127.0.0.2 with ONVIF but no recording, not yet added.
 */
async function recorder(stack: Stack, onvif: OnvifOptions) {
  const web = await startWebCamera({ onvif });
  const rtsp = await startRtspCamera();
  const replaying = replayProxy(rtsp.port, ONVIF_REPLAY_PATHS, rtsp.path);
  const plain = await startWebCamera({ onvif: {}, hostname: "127.0.0.2" });
  stack.defer(web.close);
  stack.defer(rtsp.close);
  stack.defer(replaying.close);
  stack.defer(plain.close);
  const q = await stack.quickstart([web.port, replaying.port], "Recorder");
  const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
    protocols: { [replaying.port]: "rtsp" },
  });
  assertEquals(patched.status, 200, JSON.stringify(patched.json));
  await stack.agentFor(q);
  await stack.holdCredentials(q, { username: "admin", password: "12345" });
  return { rtsp, replaying, plain, q, handle: q.device.handles[replaying.port] };
}

/**
 * Presses "Save the picture" on `page` (a camera on `port` of 127.0.0.1) and checks the file a
 * user gets: a JPEG of the 320×240 picture that ffmpeg decodes, named
 * `127.0.0.1-{port}-{instant}.jpg`; answers the instant its name gives (ms).
 */
async function savePicture(page: Page, port: number): Promise<{ name: string; at: number }> {
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 30_000 }),
    page.click("text=Save the picture"),
  ]);
  const name = download.suggestedFilename();
  const m = new RegExp(
    `^127\\.0\\.0\\.1-${port}-(\\d{4})(\\d\\d)(\\d\\d)T(\\d\\d)(\\d\\d)(\\d\\d)Z\\.jpg$`,
  )
    .exec(name);
  assert(m, name);
  const jpeg = await probeFile(await download.path());
  assertEquals([jpeg.codec, jpeg.width, jpeg.decodeErrors], ["mjpeg", 320, ""], name);
  assert((await page.textContent("#picture-said"))!.startsWith(`Saved ${name} (320×240, `));
  return { name, at: Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) };
}

/**
 * A viewer of `tenantId` in Tokyo (the user, their browser context and page), signed in, on the
 * camera's Live page on its live `path`.
 */
async function viewerInTokyo(
  stack: Stack,
  browser: Browser,
  tenantId: string,
  handle: string,
  path: string,
) {
  const viewer = await stack.addUser(tenantId, "viewer");
  const cookie = await stack.signIn(viewer.email, viewer.password);
  const context = await signedInContext(browser, stack.url, cookie, { timezoneId: "Asia/Tokyo" });
  const page = await context.newPage();
  await page.goto(`${stack.url}/live/${handle}?path=${encodeURIComponent(path)}`);
  return { viewer, context, page };
}

Deno.test("Recording: a camera's own recording found over ONVIF and played in Chromium from a time in the viewer's zone, with onvif-replay and a clock range; back to live; refusals in words", async () => {
  const stack = await Stack.start();
  const recordings = new CameraRecordings();
  const events = new CameraEvents();
  const { rtsp, replaying, plain, q, handle } = await recorder(stack, {
    recordings,
    events,
    clockOffsetMs: -3_600_000,
  });
  const browser = await launchBrowser();
  try {
    // Where the recording is and what it holds.
    const asked = await stack.api("POST", `/api/handles/${handle}/recording`, q.apiToken);
    assertEquals([asked.status, asked.json], [200, {
      path: ONVIF_REPLAY_PATH,
      from: "2026-12-01T00:00:00Z",
      until: "2026-12-06T23:59:59Z",
      recording: "RecordingToken001",
      recordings: [{ token: "RecordingToken001", name: "Camera 1" }],
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
    // A clip: refused in words before anything is asked of the camera.
    const clip = (query: string, token = q.apiToken) =>
      stack.api("GET", `/api/live/${handle}/clip.mp4?path=${ONVIF_REPLAY_PATH}${query}`, token);
    for (
      const [query, message] of [
        ["", "from: the instant the clip starts at, as 2026-12-06T03:00:00Z"],
        ["&from=2026-12-05T18:00:00Z&seconds=0", "seconds: a whole number from 1 to 600"],
        ["&from=2026-12-05T18:00:00Z&seconds=601", "seconds: a whole number from 1 to 600"],
        ["&from=2026-12-05T18:00:00Z&seconds=ten", "seconds: a whole number from 1 to 600"],
      ]
    ) {
      const r = await clip(query);
      assertEquals([r.status, r.json.message], [400, message], query);
    }
    const unasked = replaying.requests.length;
    assertEquals((await clip("&from=2026-12-05T18:00:00Z", "")).status, 401);
    assertEquals((await clip("&from=2026-12-05T18:00:00Z", other.apiToken)).status, 403);
    assertEquals(replaying.requests.length, unasked, "the camera is not asked");

    // A viewer in Tokyo plays 03:00 on 6 December, her time.
    const { viewer, context, page } = await viewerInTokyo(
      stack,
      browser,
      q.tenantId,
      handle,
      rtsp.path,
    );
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assert(
      replaying.requests.every((r) => r.require === null),
      "live is asked without onvif-replay",
    );
    // "Save the picture" of the live picture: a JPEG of it, named by the camera and now.
    const beforeLive = Math.floor(Date.now() / 1000) * 1000;
    const livePicture = await savePicture(page, replaying.port);
    assert(
      livePicture.at >= beforeLive && livePicture.at <= Date.now(),
      JSON.stringify(livePicture),
    );
    // "Full screen": the picture alone on the screen.
    await page.click("text=Full screen");
    await page.waitForFunction(
      `document.fullscreenElement?.classList.contains("live-tile") === true`,
    );
    await page.evaluate(`document.exitFullscreen()`);
    await page.click("[data-recording-start]");
    await page.waitForSelector(".recording-play:not([hidden])");
    const said = (await page.textContent("#recording-said"))!;
    assert(said.startsWith("It holds pictures from "), said);
    assert(await page.isHidden(".recording-which"), "one recording: no choice offered");
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

    // "Save the picture" of the recording: named by the instant on the screen, not now.
    const pictureShown = await onScreen();
    const recorded = await savePicture(page, replaying.port);
    assert(
      recorded.at >= Math.floor(pictureShown / 1000) * 1000 && recorded.at < Date.now() - 3_600_000,
      JSON.stringify(recorded),
    );

    // Moved while paused: from the paused second, however far the picture had played.
    await page.waitForFunction(
      `document.querySelector("video[data-live]").currentTime > 2.5`,
      null,
      { timeout: 30_000 },
    );
    // Paused while the browser is still taking in a picture (an append under way): the picture
    // that lands after the pause neither plays the video again nor moves the instant on it.
    await page.evaluate(`(() => {
      const append = SourceBuffer.prototype.appendBuffer;
      SourceBuffer.prototype.appendBuffer = function (data) {
        append.call(this, data);
        SourceBuffer.prototype.appendBuffer = append;
        this.addEventListener("updateend", () => globalThis.landed = true, { once: true });
        document.querySelector("[data-recording-pause]").click();
      };
    })()`);
    await page.waitForSelector("video[data-state=paused]");
    const pausedAgain = fromOfUrl();
    await page.waitForFunction(`globalThis.landed === true`, null, { timeout: 30_000 });
    assertEquals(await page.evaluate(`document.querySelector("video[data-live]").paused`), true);
    n = replaying.requests.length;
    await page.click("text=30 s on");
    assertEquals((await nextPlay(n)).range, clock(pausedAgain + 30_000));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });

    // "Save a clip from here": 10 s of the recording from the instant on the screen, in a camera
    // session of its own, as an MP4 file a player opens and decodes whole; audited.
    await page.selectOption("#recording-clip-length", "10");
    n = replaying.requests.length;
    const clipShown = await onScreen();
    const [download] = await Promise.all([
      page.waitForEvent("download", { timeout: 30_000 }),
      page.click("text=Save a clip from here"),
    ]);
    assert(
      new RegExp(`^127\\.0\\.0\\.1-${replaying.port}-\\d{8}T\\d{6}Z-10s\\.mp4$`)
        .test(download.suggestedFilename()),
      download.suggestedFilename(),
    );
    const saved = await download.path();
    assertEquals(await download.failure(), null);
    const probe = await probeFile(saved);
    assertEquals([probe.codec, probe.width, probe.decodeErrors], ["h264", 320, ""]);
    assert(
      probe.lastPts! - probe.firstPts! >= 9 && probe.lastPts! - probe.firstPts! < 10,
      `10 s of pictures: ${JSON.stringify(probe)}`,
    );
    const clipAudit = await untilValue("the clip audited", async () => {
      const audit = await stack.api("GET", "/api/audit?action=live.clip", q.apiToken);
      return (audit.json.items as { actor: string; detail: Record<string, unknown> }[])[0] ??
        null;
    });
    const clipFrom = Date.parse(clipAudit.detail.recordingFrom as string);
    assert(
      clipFrom >= Math.floor(clipShown / 1000) * 1000,
      `clip from ${clipAudit.detail.recordingFrom}, on the screen before ${
        new Date(clipShown).toISOString()
      }`,
    );
    assertEquals(
      [clipAudit.actor, clipAudit.detail.seconds, clipAudit.detail.stream, clipAudit.detail.fast],
      [`user:${viewer.userId}`, 10, ONVIF_REPLAY_PATH, false],
    );
    // Its own session at the camera, from that second.
    assert(
      replaying.requests.slice(n).some((r) => r.method === "PLAY" && r.range === clock(clipFrom)),
      JSON.stringify(replaying.requests.slice(n)),
    );
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
    // Its "Save a clip": a minute of the recording from 10 s before the motion, as a file.
    const alertClipFrom = new Date(Date.parse(motion.at) - 10_000).toISOString()
      .replace(/\.\d+Z$/, "Z");
    const [alertClip] = await Promise.all([
      page.waitForEvent("download", { timeout: 30_000 }),
      page.click(`li[data-type="camera.motion"] >> text=Save a clip`),
    ]);
    assert(
      alertClip.suggestedFilename().endsWith(`-${alertClipFrom.replace(/[-:]/g, "")}-60s.mp4`),
      alertClip.suggestedFilename(),
    );
    // Among the live connections while it downloads; an admin ends it, and the download fails
    // (a cut clip is never passed off as a whole one).
    const listed = await untilValue("the clip among the live connections", async () => {
      const r = await stack.api("GET", "/api/live", q.apiToken);
      return (r.json.items as { id: string; kind: string; who: string }[])
        .find((i) => i.kind === "recording clip") ?? null;
    });
    assertEquals(listed.who, viewer.email);
    assertEquals((await stack.api("DELETE", `/api/live/${listed.id}`, q.apiToken)).status, 200);
    assert(await alertClip.failure() !== null, "the download ends as failed");
    await until("the alert's clip audited", async () => {
      const audit = await stack.api("GET", "/api/audit?action=live.clip", q.apiToken);
      return (audit.json.items as { detail: Record<string, unknown> }[]).some((e) =>
        e.detail.recordingFrom === new Date(alertClipFrom).toISOString() && e.detail.seconds === 60
      );
    });
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
    // Its "Save a clip": the live view at the alert's moment saves a minute of the recording
    // from 10 s before it as a file, at once, and says so.
    const eventClipFrom = new Date(Math.floor(Date.parse(motion.at) / 1000) * 1000 - 10_000)
      .toISOString().replace(/\.\d+Z$/, "Z");
    const [clipTab] = await Promise.all([
      context.waitForEvent("page"),
      page.click(`tr[data-type="camera.motion"] >> text=Save a clip`),
    ]);
    const eventClip = await clipTab.waitForEvent("download", { timeout: 30_000 });
    assert(
      eventClip.suggestedFilename().endsWith(`-${eventClipFrom.replace(/[-:]/g, "")}-60s.mp4`),
      eventClip.suggestedFilename(),
    );
    assert(
      (await clipTab.textContent("#recording-said"))!.startsWith(
        `Saving 1 min of the recording from `,
      ),
    );
    await eventClip.cancel();
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test("Recording: what happened in it, from the camera's search — motion, tampering and an alarm input from a time on, in pages of 50, played from just before each; refusals in words", async () => {
  const stack = await Stack.start();
  const recordings = new CameraRecordings();
  // Before the search's start (not found), then three things and their ends, then 60 motions.
  const at = (min: number, s = 0) => new Date(Date.UTC(2026, 11, 5, 18, min, s)).toISOString();
  recordings.events.push(
    { at: at(-50), kind: "motion", on: true },
    { at: at(12, 40), kind: "motion", on: true },
    { at: at(13, 10), kind: "motion", on: false },
    { at: at(20), kind: "tamper", on: true },
    { at: at(21), kind: "tamper", on: false },
    { at: at(30), kind: "input", on: true, input: "DoorContact" },
    { at: at(30, 30), kind: "input", on: false, input: "DoorContact" },
  );
  for (let i = 0; i < 60; i++) {
    recordings.events.push(
      { at: at(60 + i), kind: "motion", on: true },
      { at: at(60 + i, 30), kind: "motion", on: false },
    );
  }
  const { rtsp, replaying, plain, q, handle } = await recorder(stack, { recordings });
  const browser = await launchBrowser();
  try {
    const search = (body: Record<string, unknown>, token = q.apiToken, h = handle) =>
      stack.api("POST", `/api/handles/${h}/recording/events`, token, body);

    // From 18:00: motion, tampering and the door contact starting — their ends left out — then
    // the motions, as far as the 50 results a search returns reach; `next` goes on after them.
    type Found = { events: { at: string; type: string; what: string }[]; next: string | null };
    const first = await search({ from: "2026-12-05T18:00:00Z" });
    assertEquals(first.status, 200, JSON.stringify(first.json));
    const page1 = first.json as Found;
    assertEquals(page1.events.slice(0, 3), [
      { at: at(12, 40), type: "camera.motion", what: "Motion detected" },
      { at: at(20), type: "camera.tamper", what: "Camera tampered with" },
      {
        at: at(30),
        type: "camera.input",
        what: "Camera alarm input (DoorContact)",
        input: "DoorContact",
      } as Found["events"][number],
    ]);
    // The camera found 50 (6 + 44 of the motions' starts and ends): 3 + 22 starts shown.
    assertEquals(page1.events.length, 25);
    assertEquals(page1.next, new Date(Date.parse(at(60 + 21, 30)) + 1).toISOString());
    assertEquals(recordings.searches[0], {
      from: "2026-12-05T18:00:00.000Z",
      until: recordings.searches[0].until,
      max: 50,
      recording: "RecordingToken001",
      reads: 13,
      ended: false,
    });
    // Read in parts of 4 until the camera said it was complete.
    assert(Date.parse(recordings.searches[0].until) <= Date.now());
    // Paged on to the end: every start once, in order.
    const all = [...page1.events];
    for (let next = page1.next; next;) {
      const r = await search({ from: next });
      assertEquals(r.status, 200, JSON.stringify(r.json));
      all.push(...(r.json as Found).events);
      next = (r.json as Found).next;
    }
    assertEquals(all.length, 63);
    assertEquals(all.at(-1)!.at, at(119));
    assert(all.every((e, i) => i === 0 || Date.parse(e.at) > Date.parse(all[i - 1].at)));
    // A search up to a time.
    const until = await search({ from: "2026-12-05T18:00:00Z", until: "2026-12-05T18:25:00Z" });
    assertEquals(
      (until.json as Found).events.map((e) => e.type),
      ["camera.motion", "camera.tamper"],
    );
    assertEquals((until.json as Found).next, null);

    // Refused in words: not an instant, an end before the start, a start still to come, another
    // tenant, a camera that keeps no recording.
    const refusal = async (body: Record<string, unknown>) => {
      const r = await search(body);
      assertEquals(r.status, 400, JSON.stringify(r.json));
      return r.json.message;
    };
    assertEquals(
      await refusal({ from: "yesterday" }),
      "from: an instant in UTC, as 2026-12-06T03:00:00Z",
    );
    assertEquals(
      await refusal({ from: "2026-12-05T18:00:00Z", until: "2026-12-05T17:00:00Z" }),
      "until: after from",
    );
    assertEquals(
      await refusal({ from: new Date(Date.now() + 3_600_000).toISOString() }),
      "from: an instant already past",
    );
    const other = await stack.quickstart([9], "Other");
    assertEquals((await search({ from: "2026-12-05T18:00:00Z" }, other.apiToken)).status, 403);
    const none = await search(
      { from: "2026-12-05T18:00:00Z" },
      q.apiToken,
      await stack.addCamera(q, "127.0.0.2", plain.port),
    );
    assertEquals(none.status, 502, JSON.stringify(none.json));
    assert(
      (none.json.message as string).startsWith(
        "the camera did not search its recording over ONVIF: the camera has no recording service",
      ),
      none.json.message,
    );

    // In Chromium a viewer (in Tokyo) asks what happened from 03:00 her time, pages on with
    // "Find more", and plays the tampering from 10 s before it.
    const { page } = await viewerInTokyo(stack, browser, q.tenantId, handle, rtsp.path);
    await page.click("[data-recording-start]");
    await page.waitForSelector(".recording-play:not([hidden])");
    await page.fill("#recording-from", "2026-12-06T03:00:00");
    await page.click("text=What happened from then");
    await page.waitForSelector(".recording-events li");
    assertEquals(await page.locator(".recording-events li").count(), 25);
    const said = (await page.textContent("#recording-said"))!;
    assert(
      said.startsWith("25 events in the recording from ") && said.endsWith("Find more."),
      said,
    );
    const spaced = (t: string) => t.replace(/\s+/g, " ");
    assertEquals(
      spaced((await page.textContent(".recording-events li:nth-child(2)"))!),
      spaced(
        `${
          new Date(at(20)).toLocaleString("en-US", { timeZone: "Asia/Tokyo" })
        } Camera tampered withPlay`,
      ),
    );
    await page.click("[data-recording-more]");
    await page.waitForFunction(`document.querySelectorAll(".recording-events li").length > 25`);
    await page.click("[data-recording-more]");
    await page.waitForFunction(`document.querySelectorAll(".recording-events li").length === 63`);
    await page.waitForSelector("[data-recording-more][hidden]", { state: "attached" });
    assertEquals(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${SCREENSHOTS}/live-recording-events.png`, fullPage: true });
    await Promise.all([
      page.waitForURL(/from=/),
      page.click(`.recording-events li[data-type="camera.tamper"] button`),
    ]);
    assertEquals(new URL(page.url()).searchParams.get("from"), "2026-12-05T18:19:50Z");
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assertEquals(
      replaying.requests.find((r) => r.method === "PLAY" && r.require === "onvif-replay")?.range,
      "clock=20261205T181950Z-",
    );
    // The slider spans the hour around it, the camera's events of that hour marked on it.
    const s = (iso: string) => String(Date.parse(iso) / 1000);
    assertEquals(
      [
        await page.getAttribute("#recording-seek", "min"),
        await page.getAttribute("#recording-seek", "max"),
      ],
      [s("2026-12-05T17:49:50Z"), s("2026-12-05T18:49:50Z")],
    );
    await page.waitForSelector("#recording-marks option", { state: "attached" });
    assertEquals(
      await page.evaluate(
        `Array.from(document.querySelectorAll("#recording-marks option"), (o) => [o.value, o.label])`,
      ),
      [
        [s(at(12, 40)), "Motion detected"],
        [s(at(20)), "Camera tampered with"],
        [s(at(30)), "Camera alarm input (DoorContact)"],
      ],
    );
    // Its arrow key: 10 s on from where its thumb is (the instant on the screen), played at once.
    const n = replaying.requests.length;
    const thumb = Number(await page.inputValue("#recording-seek"));
    const pressed = Date.now();
    await page.focus("#recording-seek");
    await page.keyboard.press("ArrowRight");
    const play = await untilValue(
      "the camera asked to play",
      () => replaying.requests.slice(n).find((r) => r.method === "PLAY") ?? null,
    );
    const to = Date.parse(new URL(page.url()).searchParams.get("from")!) / 1000;
    assert(
      to >= thumb + 10 && to <= thumb + 10 + (Date.now() - pressed) / 1000 + 1,
      `the thumb at ${thumb}, played from ${to}`,
    );
    assertEquals(
      play.range,
      `clock=${new Date(to * 1000).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-`,
    );
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assertEquals(await accessibilityViolations(page), []);
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test("Recording: an NVR's recordings, one per channel — chosen by name, each played and searched on its own, the choice kept by the page; one it does not keep refused", async () => {
  const stack = await Stack.start();
  const recordings = new CameraRecordings();
  recordings.more.push({
    token: "RecordingToken002",
    name: "Gate & yard",
    from: "2026-12-03T00:00:00Z",
    until: "2026-12-06T12:00:00Z",
  });
  recordings.events.push(
    { at: "2026-12-05T18:05:00Z", kind: "motion", on: true },
    { at: "2026-12-05T18:07:00Z", kind: "motion", on: true, recording: "RecordingToken002" },
    { at: "2026-12-05T18:09:00Z", kind: "tamper", on: true, recording: "RecordingToken002" },
  );
  const { rtsp, replaying, q, handle } = await recorder(stack, { recordings });
  const browser = await launchBrowser();
  try {
    // By default the first; another by its token, with its own range (GetRecordingInformation).
    const listed = [
      { token: "RecordingToken001", name: "Camera 1" },
      { token: "RecordingToken002", name: "Gate & yard" },
    ];
    const first = await stack.api("POST", `/api/handles/${handle}/recording`, q.apiToken);
    assertEquals([first.status, first.json], [200, {
      path: ONVIF_REPLAY_PATH,
      from: "2026-12-01T00:00:00Z",
      until: "2026-12-06T23:59:59Z",
      recording: "RecordingToken001",
      recordings: listed,
    }]);
    const gate = await stack.api("POST", `/api/handles/${handle}/recording`, q.apiToken, {
      recording: "RecordingToken002",
    });
    assertEquals([gate.status, gate.json], [200, {
      path: "/onvif-replay/RecordingToken002",
      from: "2026-12-03T00:00:00Z",
      until: "2026-12-06T12:00:00Z",
      recording: "RecordingToken002",
      recordings: listed,
    }]);
    for (const path of ["/recording", "/recording/events"]) {
      const none = await stack.api("POST", `/api/handles/${handle}${path}`, q.apiToken, {
        recording: "RecordingToken009",
        ...(path.endsWith("events") ? { from: "2026-12-05T18:00:00Z" } : {}),
      });
      assertEquals(none.status, 400, JSON.stringify(none.json));
      assertEquals(
        none.json.message,
        'recording: the camera keeps no recording "RecordingToken009"',
      );
    }
    // Each searched on its own.
    const searched = await stack.api(
      "POST",
      `/api/handles/${handle}/recording/events`,
      q.apiToken,
      {
        from: "2026-12-05T18:00:00Z",
        recording: "RecordingToken002",
      },
    );
    assertEquals(
      (searched.json.events as { at: string; type: string }[]).map((e) => [e.at, e.type]),
      [["2026-12-05T18:07:00.000Z", "camera.motion"], [
        "2026-12-05T18:09:00.000Z",
        "camera.tamper",
      ]],
    );

    // In Chromium: the recordings offered by name; the gate's chosen, searched and played.
    const { page } = await viewerInTokyo(stack, browser, q.tenantId, handle, rtsp.path);
    await page.click("[data-recording-start]");
    await page.waitForSelector(".recording-which:not([hidden])");
    assertEquals(
      await page.locator("#recording-which option").allTextContents(),
      ["Camera 1", "Gate & yard"],
    );
    await page.selectOption("#recording-which", "RecordingToken002");
    await page.waitForFunction(
      `document.getElementById("recording-said").textContent.startsWith("Gate & yard: it holds pictures from ")`,
    );
    assertEquals(await page.getAttribute("#recording-from", "max"), "2026-12-06T21:00:00");
    await page.fill("#recording-from", "2026-12-06T03:00:00");
    await page.click("text=What happened from then");
    await page.waitForSelector(".recording-events li");
    assertEquals(
      await page.locator(".recording-events li").evaluateAll((l) => l.map((e) => e.dataset.type)),
      ["camera.motion", "camera.tamper"],
    );
    assertEquals(await accessibilityViolations(page), []);
    await Promise.all([
      page.waitForURL(/from=/),
      page.click(`.recording-events li[data-type="camera.motion"] button`),
    ]);
    const url = new URL(page.url());
    assertEquals(
      [
        url.searchParams.get("replay"),
        url.searchParams.get("recording"),
        url.searchParams.get("from"),
      ],
      ["/onvif-replay/RecordingToken002", "RecordingToken002", "2026-12-05T18:06:50Z"],
    );
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    const described = replaying.requests.find((r) =>
      r.method === "DESCRIBE" && r.require === "onvif-replay"
    );
    assert(described?.uri.endsWith("/onvif-replay/RecordingToken002"), JSON.stringify(described));
    // The page playing it keeps the choice: asked again, the gate's recording is the one offered.
    await page.click("[data-recording-start]");
    await page.waitForSelector(".recording-which:not([hidden])");
    assertEquals(await page.inputValue("#recording-which"), "RecordingToken002");
  } finally {
    await browser.close();
    await stack.stop();
  }
});
