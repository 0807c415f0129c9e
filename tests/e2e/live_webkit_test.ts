// The live view in WebKit, Safari's engine (WebKitGTK on a virtual display): an H.265 camera plays
// on its live page and on the site page's thumbnail. Two things only WebKit shows: its WebSocket
// handshakes carry `Sec-Fetch-Site: same-origin` and `Sec-Fetch-Mode: websocket` with no Referer
// (Chromium sends no Sec-Fetch headers there), which the cloud once refused as "requests that
// hide their origin page may not use the session" — every live picture, thumbnail and terminal
// of a Safari user; and it decodes H.265, which this machine's Chromium does not. The
// camera sends no sound: WebKitGTK's own GStreamer MSE pipeline loses a race linking a second
// track now and then on this machine ("gst_pad_push() returned not-linked", the picture stopped
// after 60 ms, with H.264 as with H.265; once in a dozen whole-suite runs without sound too, which
// the player now gets over by starting once more); Safari plays through AVFoundation instead.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/rtsp.ts";
import { webkitVisit } from "../_fixtures/webkit.ts";

Deno.test("live view in WebKit (Safari's engine): an H.265 camera plays on its page and its thumbnail", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera({ codec: "h265" });
  stack.defer(cam.close);
  try {
    const q = await stack.quickstart([cam.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const user = await stack.addUser(q.tenantId);
    const cookie = await stack.signIn(user.email, user.password);

    await t.step("the live page plays the camera's H.265", async () => {
      const seen = await webkitVisit({
        origin: stack.url,
        cookie,
        path: `/live/${handle}?path=${encodeURIComponent(cam.path)}`,
        until: `document.querySelector("video[data-live]").currentTime > 1`,
        probe: `JSON.stringify((() => {
          const v = document.querySelector("video[data-live]");
          return { state: v.dataset.state, size: [v.videoWidth, v.videoHeight],
            said: document.querySelector(".live-status").textContent };
        })())`,
        timeoutS: 45,
      });
      assert(seen.ok, `${JSON.stringify(seen.result)}\n${seen.output.slice(-3000)}`);
      assertEquals(seen.result, {
        state: "playing",
        size: [320, 240],
        said: "320×240 hvc1.1.6.L63.90",
      });
    });

    await t.step("the site page's thumbnail of the camera shows its picture", async () => {
      const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
        protocols: { [cam.port]: "rtsp" },
        streamPaths: { [cam.port]: cam.path },
      });
      assertEquals(patched.status, 200);
      const thumb = `document.querySelector('canvas[data-thumb="${handle}"]')`;
      const seen = await webkitVisit({
        origin: stack.url,
        cookie,
        path: `/sites/${q.siteId}`,
        // Thumbnails start as they come into view.
        until: `(${thumb}.scrollIntoView(), ${thumb}.dataset.state === "ok")`,
        probe: `JSON.stringify({ state: ${thumb}.dataset.state ?? null,
          reason: ${thumb}.dataset.reason ?? null })`,
        timeoutS: 45,
      });
      assert(seen.ok, `${JSON.stringify(seen.result)}\n${seen.output.slice(-3000)}`);
      assertEquals(seen.result, { state: "ok", reason: null });
    });
  } finally {
    await stack.stop();
  }
});
