// An H.265 camera's live view end to end: a real cloud and agent, GStreamer's camera sending H.265
// (x265, Main profile) with AAC sound. Over the API the live WebSocket announces an `hvc1` codec
// with the sound's, and "Record a clip" (`record.mp4`) is a file ffmpeg decodes whole as HEVC at
// the camera's size with its sound — what a Safari user's player is given. In Chromium the page
// either plays it (a browser that decodes H.265) or says in words that this browser cannot play
// H.265 and what helps (this machine's headless Chromium has no H.265 decoder), and the site's
// thumbnail says the same; never a blank player.
// @ts-types="@types/ws"
import WebSocket from "ws";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { probeStreams, startCamera } from "../_fixtures/rtsp.ts";
import { launchBrowser, SCREENSHOTS, signedInContext } from "../_fixtures/browser.ts";

/** The live WebSocket's first text message (the init announcement). */
function initMessage(url: string, token: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("no init message in 30 s"));
    }, 30_000);
    ws.on("message", (data: Buffer, binary: boolean) => {
      if (binary) return;
      clearTimeout(timer);
      ws.close();
      resolve(JSON.parse(data.toString()));
    });
    ws.on("error", (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

Deno.test("live view: an H.265 camera with sound — hvc1 over the API, a clip ffmpeg decodes, the page plays it or says why in words", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera({ codec: "h265", audio: true });
  stack.defer(cam.close);
  const browser = await launchBrowser();
  stack.defer(() => browser.close());
  try {
    const q = await stack.quickstart([cam.port]);
    const enrolled = await stack.enroll(q.enrollmentToken);
    assertEquals(enrolled.code, 0, enrolled.stderr);
    await stack.runAgent(enrolled.state);
    const handle = q.device.handles[cam.port];
    const path = encodeURIComponent(cam.path);

    let codec = "";
    await t.step("the live WebSocket announces H.265 (hvc1, Main profile) and AAC", async () => {
      const wsUrl = `${stack.url.replace(/^http/, "ws")}/api/live/${handle}?path=${path}`;
      const init = await initMessage(wsUrl, q.apiToken);
      codec = String(init.codec);
      assert(/^hvc1\.1\.6\.L\d+(\.[0-9A-F]{1,2})*,mp4a\.40\.2$/.test(codec), codec);
      assertEquals([init.width, init.height], [320, 240]);
    });

    await t.step("Record a clip: a file ffmpeg decodes whole, HEVC and AAC", async () => {
      const res = await fetch(`${stack.url}/api/live/${handle}/record.mp4?path=${path}&seconds=3`, {
        headers: { authorization: `Bearer ${q.apiToken}` },
      });
      assertEquals(res.status, 200);
      const file = await Deno.makeTempFile({ suffix: ".mp4" });
      await Deno.writeFile(file, new Uint8Array(await res.arrayBuffer()));
      const { streams, stderr } = await probeStreams(file);
      await Deno.remove(file);
      const video = streams.find((s) => s.type === "video");
      const sound = streams.find((s) => s.type === "audio");
      assertEquals([video?.codec, video?.width, video?.height], ["hevc", 320, 240], stderr);
      assertEquals(sound?.codec, "aac", stderr);
      // 15 pictures a second for 3 s, every one decoded (ffmpeg's complaints are in stderr).
      assert((video?.frames ?? 0) >= 40, `pictures decoded: ${video?.frames}; ${stderr}`);
      assertEquals(stderr.trim(), "", "ffmpeg decodes the clip without a complaint");
    });

    await t.step(
      "Chromium: the page plays H.265 or says why in words, as does the thumbnail",
      async () => {
        const user = await stack.addUser(q.tenantId);
        const cookie = await stack.signIn(user.email, user.password);
        const context = await signedInContext(browser, stack.url, cookie);
        const page = await context.newPage();
        await page.goto(`${stack.url}/live/${handle}?path=${path}`);
        const playable = await page.evaluate(
          `!!window.MediaSource && MediaSource.isTypeSupported('video/mp4; codecs="${codec}"')`,
        );
        if (playable) {
          await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
          await page.waitForFunction(
            `document.querySelector("video[data-live]").currentTime > 1`,
            null,
            { timeout: 30_000 },
          );
        } else {
          await page.waitForSelector("video[data-state=unsupported]", { timeout: 30_000 });
          const said = (await page.textContent(".live-status")) ?? "";
          assertStringIncludes(said, "This browser cannot play H.265 (HEVC)");
          assertStringIncludes(said, "Set the camera's stream to H.264");
          assertStringIncludes(
            said,
            "open the camera's RTSP URL (its RTSP pill on the site's page)",
          );
          assert(
            !said.includes("hvc1"),
            `named as cameras name it, not by its codec string: ${said}`,
          );
        }
        await page.screenshot({ path: `${SCREENSHOTS}/live-h265.png` });
        // The site page's thumbnail of the camera (an RTSP port with its stream path): its picture,
        // or the same reason in words.
        const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
          protocols: { [cam.port]: "rtsp" },
          streamPaths: { [cam.port]: cam.path },
        });
        assertEquals(patched.status, 200);
        await page.goto(`${stack.url}/sites/${q.siteId}`);
        const thumb = `canvas[data-thumb="${handle}"]`;
        await page.locator(thumb).scrollIntoViewIfNeeded();
        await page.waitForSelector(`${thumb}[data-state=${playable ? "ok" : "failed"}]`, {
          timeout: 30_000,
        });
        if (!playable) {
          assertEquals(
            await page.getAttribute(thumb, "data-reason"),
            "this browser cannot play H.265 (HEVC)",
          );
        }
        await context.close();
      },
    );
  } finally {
    await stack.stop();
  }
});
