// A camera that sends its recording as fast as it can: GStreamer's own ONVIF server (its
// `Rate-Control: no` honoured: it sends as fast as it encodes) behind a replaying front that
// records the requests and counts the bytes the camera sent, through the real cloud and agent.
//
// A clip: ten minutes of a busy picture (about 75 MB) are asked; the download stops reading after
// its first megabyte, and the camera is held (it sends no more than the tunnel's and the sockets'
// buffers hold, far from the whole clip, and its session stays open) until the download reads on;
// then the file is whole: 600 s of pictures that ffmpeg decodes without a word, audited `fast`.
// The camera sends its sound too, far ahead of its pictures: the clip keeps ten minutes of it
// and ends by its pictures, not when the sound reached the end.
//
// Speed: in Chromium the recording plays at 4× (the camera asked as fast as it can, the cloud
// pacing it, the browser's playbackRate 4, the instant on the screen moving on), "Speed" changes
// it to 8× and back to as it happened from the instant on the screen, the address keeping it, and
// the keys do as video players' do (> < the speed, Space pause and play on, → 30 s on); a
// camera that sends only as it happened plays at 1× and the page says why; the API refuses a speed
// not offered and a speed for live, in words.
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until, untilValue } from "../_fixtures/until.ts";
import { probeFile, probeStreams, replayProxy, startCamera } from "../_fixtures/rtsp.ts";
import { ONVIF_REPLAY_PATH } from "../_fixtures/onvif_service.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

/**
 * In `stack`: GStreamer's camera with a recording (`pattern` at `bitrate` kbit/s), its recording
 * behind a replaying front that passes ONVIF replay on (`fast`, on ONVIF_REPLAY_PATH), and its live
 * picture behind one that plays it as the recording without Rate-Control (`slow`: a camera that
 * sends its recording only as it happened); both ports RTSP on one device, its agent up.
 */
async function fastRecorder(
  stack: Stack,
  camera: { pattern?: string; bitrate?: number; audio?: true } = {},
) {
  const rtsp = await startCamera({ recording: true, ...camera });
  stack.defer(rtsp.close);
  const fast = replayProxy(rtsp.port, ONVIF_REPLAY_PATH, rtsp.recordingPath!, { onvif: true });
  const slow = replayProxy(rtsp.port, ONVIF_REPLAY_PATH, rtsp.path);
  stack.defer(fast.close);
  stack.defer(slow.close);
  const q = await stack.quickstart([fast.port, slow.port], "Recorder");
  const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
    protocols: { [fast.port]: "rtsp", [slow.port]: "rtsp" },
  });
  assertEquals(patched.status, 200, JSON.stringify(patched.json));
  await stack.agentFor(q);
  return { fast, slow, q };
}

Deno.test("Recording clip: a camera that sends its recording as fast as it can saves ten minutes, held by a download that stops reading, then whole", async () => {
  const stack = await Stack.start();
  try {
    // Snow at 1 Mbit/s: every picture costs its share, so ten minutes are about 75 MB. With its
    // sound, which GStreamer's recording sends far ahead of its pictures (all ten minutes of it
    // within the first seconds): the clip still ends by its pictures.
    const { fast: replaying, q } = await fastRecorder(stack, {
      pattern: "snow",
      bitrate: 1000,
      audio: true,
    });
    const handle = q.device.handles[replaying.port];

    const res = await fetch(
      `${stack.url}/api/live/${handle}/clip.mp4?path=${
        encodeURIComponent(ONVIF_REPLAY_PATH)
      }&from=2026-12-05T18:00:00Z&seconds=600`,
      { headers: { authorization: `Bearer ${q.apiToken}` } },
    );
    assertEquals(res.status, 200);
    assertEquals(
      res.headers.get("content-disposition"),
      `attachment; filename="127.0.0.1-${replaying.port}-20261205T180000Z-600s.mp4"`,
    );
    const file = await Deno.makeTempFile({ suffix: ".mp4" });
    stack.defer(() => Deno.remove(file));
    const out = await Deno.open(file, { write: true });
    const reader = res.body!.getReader();
    let got = 0;
    const readOn = async (upTo: number) => {
      while (got < upTo) {
        const { value, done } = await reader.read();
        if (done) return;
        got += value.length;
        await out.write(value);
      }
    };
    await readOn(1 << 20);

    // The download reads nothing more: the camera is held. What it sent settles (polled until
    // unchanged over two seconds) far short of the clip, its session still open.
    let last = -1, since = Date.now();
    await until(
      "the camera held",
      () => {
        const sent = replaying.sent();
        if (sent !== last) [last, since] = [sent, Date.now()];
        return Date.now() - since >= 2_000;
      },
      60_000,
      250,
    );
    const heldAt = replaying.sent();
    assertEquals(replaying.sessions(), 1, "the camera's session waits, open");

    await readOn(Infinity);
    out.close();
    assert(heldAt < got / 2, `held at ${heldAt} bytes sent, of a clip of ${got}`);

    const probe = await probeFile(file);
    assertEquals([probe.codec, probe.width, probe.decodeErrors], ["h264", 320, ""]);
    assertEquals(probe.packets, 600 * 15, "every picture of ten minutes at 15 a second");
    const { streams } = await probeStreams(file);
    const sound = streams.find((x) => x.type === "audio");
    assertEquals([sound?.codec, sound?.sampleRate], ["aac", 16000]);
    // Ten minutes of 1 024-sample frames at 16 kHz (9 375), none past the clip's end and none
    // of its start lost: the sound the camera sent before the first picture was out plays with
    // it (a frame of rounding either way aside).
    assert(sound!.frames >= 9_374 && sound!.frames <= 9_376, `sound frames: ${sound!.frames}`);
    assert(
      probe.lastPts! - probe.firstPts! >= 599 && probe.lastPts! - probe.firstPts! < 600,
      JSON.stringify(probe),
    );
    // Asked as ONVIF replay asks for a recording sent as fast as the camera can.
    const play = replaying.requests.find((r) => r.method === "PLAY");
    assertEquals(
      [play?.require, play?.range, play?.rateControl],
      ["onvif-replay", "clock=20261205T180000Z-", "no"],
    );
    const audit = await stack.api("GET", "/api/audit?action=live.clip", q.apiToken);
    assertEquals(
      (audit.json.items as { detail: Record<string, unknown> }[]).map((e) => [
        e.detail.recordingFrom,
        e.detail.seconds,
        e.detail.fast,
      ]),
      [["2026-12-05T18:00:00.000Z", 600, true]],
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("Recording speed: played at 4× in Chromium, paced by the cloud; changed from the instant on the screen; a camera that cannot plays at 1× and says so; refusals in words", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const { fast, slow, q } = await fastRecorder(stack);
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(viewer.email, viewer.password);
    const context = await signedInContext(browser, stack.url, cookie);
    const page = await context.newPage();
    const replayPage = (port: number, speed: number) =>
      `${stack.url}/live/${q.device.handles[port]}?replay=${
        encodeURIComponent(ONVIF_REPLAY_PATH)
      }&from=2026-12-05T18:00:00Z&speed=${speed}`;
    const video = (what: string) =>
      page.evaluate(`document.querySelector("video[data-live]").${what}`);
    const onScreen = async () =>
      Date.parse((await page.getAttribute("#recording-at", "datetime"))!);
    const plays = () => fast.requests.filter((r) => r.method === "PLAY");

    await page.goto(replayPage(fast.port, 4));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await page.waitForFunction(`document.querySelector("video[data-live]").currentTime > 0`);
    assertEquals(await video("playbackRate"), 4);
    assertEquals(await page.inputValue("#recording-speed"), "4");
    assertStringIncludes((await page.textContent(".live-status"))!, "at 4×");
    await page.screenshot({ path: `${SCREENSHOTS}/live-recording-speed.png`, fullPage: true });
    // The camera was asked for its recording from 18:00, as fast as it can send it.
    assertEquals(
      [plays()[0]?.require, plays()[0]?.range, plays()[0]?.rateControl],
      ["onvif-replay", "clock=20261205T180000Z-", "no"],
    );
    // The instant on the screen moves on through the recording.
    const start = Date.UTC(2026, 11, 5, 18);
    await until("8 s of the recording played", async () => await onScreen() >= start + 8_000);

    // 8×, from the instant on the screen; the address keeps it.
    const asked = plays().length;
    const shown = await onScreen();
    await page.selectOption("#recording-speed", "8");
    const eight = await untilValue("the camera asked again", () => plays()[asked] ?? null);
    const from = Date.parse(new URL(page.url()).searchParams.get("from")!);
    assert(from >= shown, `played on from ${new Date(from).toISOString()}`);
    assertEquals(
      [eight.range, eight.rateControl],
      [`clock=${new Date(from).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}-`, "no"],
    );
    assertEquals(new URL(page.url()).searchParams.get("speed"), "8");
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await until("playing at 8×", async () => await video("playbackRate") === 8);
    assertStringIncludes((await page.textContent("#recording-moved"))!, "8 times faster");
    assertEquals(await accessibilityViolations(page), []);
    // As it happened again: no speed in the address, the browser at 1×.
    await page.selectOption("#recording-speed", "1");
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await until("playing at 1×", async () => await video("playbackRate") === 1);
    assertEquals(new URL(page.url()).searchParams.get("speed"), null);
    // The keys, as video players have them: > and < the speed, Space pause and play on, → 30 s on.
    await page.evaluate("document.activeElement?.blur()");
    await page.keyboard.press(">");
    await until("2× by its key", () => new URL(page.url()).searchParams.get("speed") === "2");
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await until("playing at 2×", async () => await video("playbackRate") === 2);
    await page.keyboard.press("<");
    await until("1× by its key", () => new URL(page.url()).searchParams.get("speed") === null);
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await page.keyboard.press(" ");
    await page.waitForSelector("video[data-state=paused]");
    assertEquals(await page.getAttribute("[data-recording-pause]", "aria-pressed"), "true");
    const pausedAt = Date.parse(new URL(page.url()).searchParams.get("from")!);
    const before = plays().length;
    await page.keyboard.press("ArrowRight");
    const moved = await untilValue("30 s on by its key", () => plays()[before] ?? null);
    assertEquals(
      moved.range,
      `clock=${
        new Date(pausedAt + 30_000).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")
      }-`,
    );
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    // The viewer's playing at 4× is audited with its speed.
    await until("the 4× view audited", async () => {
      const audit = await stack.api("GET", "/api/audit?action=live.open", q.apiToken);
      return (audit.json.items as { detail: Record<string, unknown> }[]).some((e) =>
        e.detail.speed === 4 && e.detail.recordingFrom === "2026-12-05T18:00:00.000Z"
      );
    });

    // A camera that sends its recording only as it happened: asked fast, it plays at 1×, and the
    // page says why.
    await page.goto(replayPage(slow.port, 4));
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    assertEquals(await video("playbackRate"), 1);
    assertStringIncludes(
      (await page.textContent(".live-status"))!,
      "this camera sends its recording only as it happened",
    );

    // Refused in words before anything is asked of the camera.
    const ask = (query: string) =>
      stack.api("GET", `/api/live/${q.device.handles[fast.port]}?${query}`, q.apiToken);
    const odd = await ask(`path=/x&from=2026-12-05T18:00:00Z&speed=3`);
    assertEquals([odd.status, odd.json.message], [
      400,
      "speed: 1, 2, 4, 8 or 16 (times faster)",
    ]);
    const live = await ask(`path=/x&speed=4`);
    assertEquals([live.status, live.json.message], [
      400,
      "speed: only a recording plays faster than it happens (give from)",
    ]);
    const clip = await stack.api(
      "GET",
      `/api/live/${
        q.device.handles[fast.port]
      }/clip.mp4?path=/x&from=2026-12-05T18:00:00Z&seconds=5&speed=4`,
      q.apiToken,
    );
    assertEquals([clip.status, clip.json.message], [
      400,
      "speed: a clip is saved as fast as the camera sends it; speed is for playing",
    ]);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
