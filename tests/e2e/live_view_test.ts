// The live view end to end: a real cloud and agent, GStreamer's camera behind Digest auth (the
// cloud holds its credentials) reached through a counting TCP proxy, Chromium playing
// `/live/{handle}` through Media Source Extensions. The picture moves (currentTime advances,
// more than 20 frames presented while 2 s of the stream play), a second viewer shares the one
// RTSP session at the camera, "Record a clip" saves the next 10 s from that session as an MP4
// file ffmpeg decodes whole, the player comes back by itself after the agent reconnects (and
// says why it waits) and after the camera falls silent (the cloud ends the session after 10 s
// without a picture) and after the cloud goes quiet without closing (the player gives the
// connection up), shows the camera's own refusal of a wrong stream path, and stops on a refusal
// that waiting cannot fix (a revoked handle), signing out stops the picture within 2 s, a
// revoked API token cuts a WebSocket viewer, and refusals are plain HTTP statuses before any
// upgrade.
// @ts-types="@types/ws"
import WebSocket from "ws";
import type { Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { countingProxy, probeFile, startCamera } from "../_fixtures/rtsp.ts";
import { launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";
import { until } from "../_fixtures/until.ts";

const CAM_USER = "camuser";
const CAM_PASS = "Cam-Pa55word!";

/**
 * Pictures presented on the page's first video while 2 s of the stream play (the video's own
 * time, so a slow machine takes longer without changing the count; 30 s at most), and how far
 * currentTime advanced meanwhile.
 */
function measure(page: Page): Promise<{ frames: number; advanced: number }> {
  return page.evaluate(`new Promise((resolve, reject) => {
    const v = document.querySelector("video[data-live]");
    let frames = 0, first = null; const t0 = v.currentTime;
    const limit = setTimeout(() => reject(new Error("2 s of stream not played in 30 s")), 30000);
    const tick = (now, m) => {
      frames++; first ??= m.mediaTime;
      if (m.mediaTime - first < 2) return v.requestVideoFrameCallback(tick);
      clearTimeout(limit); resolve({ frames, advanced: v.currentTime - t0 });
    };
    v.requestVideoFrameCallback(tick);
  })`);
}

/** The page plays again (within `ms`) and the picture moves: > 20 frames in 2 s of stream. */
async function playsAgain(page: Page, after: string, ms: number): Promise<void> {
  await page.waitForSelector("video[data-state=playing]", { timeout: ms });
  await page.waitForFunction(
    `document.querySelector("video[data-live]").currentTime > 0`,
    null,
    { timeout: 30_000 },
  );
  const m = await measure(page);
  assert(m.frames > 20, `frames presented in 2 s of stream after ${after}: ${m.frames}`);
}

Deno.test("live view: Chromium plays a Digest camera through /live/{handle}; fan-out; revocation", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera({ digest: `${CAM_USER}:${CAM_PASS}` });
  const proxy = countingProxy(cam.port);
  stack.defer(cam.close);
  stack.defer(proxy.close);
  const browser = await launchBrowser();
  stack.defer(() => browser.close());
  try {
    // Port 554 (nothing listens there) makes the console show the RTSP pills.
    const q = await stack.quickstart([proxy.port, 554]);
    const enrolled = await stack.enroll(q.enrollmentToken);
    assertEquals(enrolled.code, 0, enrolled.stderr);
    let agent = await stack.runAgent(enrolled.state);
    const handle = q.device.handles[proxy.port];
    const api = (method: string, path: string, body?: unknown, headers = {}) =>
      fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${q.apiToken}`,
          "content-type": "application/json",
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, text: await r.text() }));
    const put = await api(
      "PUT",
      `/api/sites/${q.siteId}/devices/${q.device.deviceId}/credentials`,
      { username: CAM_USER, password: CAM_PASS },
    );
    assertEquals(put.status, 200, put.text);

    const user = await stack.addUser(q.tenantId);
    const login = await fetch(`${stack.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: user.email, password: user.password }),
    });
    const { csrfToken } = await login.json();
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    const [name, value] = [
      cookie.slice(0, cookie.indexOf("=")),
      cookie.slice(cookie.indexOf("=") + 1),
    ];
    const context = await browser.newContext();
    await context.addCookies([{ name, value, url: stack.url }]);
    const liveUrl = `${stack.url}/live/${handle}?path=${encodeURIComponent(cam.path)}`;

    const first = await context.newPage();
    await t.step(
      "Chromium plays the camera: time advances, > 20 frames in 2 s of stream",
      async () => {
        await first.goto(liveUrl);
        await first.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
        await first.waitForFunction(
          `document.querySelector("video[data-live]").currentTime > 0`,
          null,
          { timeout: 30_000 },
        );
        const m = await measure(first);
        assert(m.frames > 20, `frames presented in 2 s of stream: ${m.frames}`);
        assert(m.advanced > 1, `currentTime advanced by ${m.advanced}`);
        // A camera without sound offers none.
        assertEquals(await first.locator("[data-sound]").isHidden(), true, "no Sound button");
        assert(!/with sound/.test((await first.textContent(".live-status")) ?? ""));
        // What a user sees: the test pattern's white ball on black, drawn from the video element.
        const bright = await first.evaluate(`(() => {
        const v = document.querySelector("video[data-live]");
        const c = document.createElement("canvas"); c.width = v.videoWidth; c.height = v.videoHeight;
        const g = c.getContext("2d"); g.drawImage(v, 0, 0);
        const d = g.getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 200 && d[i + 2] > 200) n++;
        return [c.width, c.height, n];
      })()`) as number[];
        assertEquals(bright.slice(0, 2), [320, 240]);
        assert(bright[2] > 100, `the picture shows the test ball: ${bright[2]} bright pixels`);
        await first.screenshot({ path: `${SCREENSHOTS}/live-01-playing.png` });
        assertEquals(proxy.accepted(), 1, "one RTSP connection at the camera");
      },
    );

    await t.step("a second viewer shares the camera session", async () => {
      const second = await context.newPage();
      await second.goto(liveUrl);
      await second.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
      const m = await measure(second);
      assert(m.frames > 20, `second viewer frames in 2 s of stream: ${m.frames}`);
      assertEquals(proxy.accepted(), 1, "still one RTSP connection at the camera");
      await second.close();
    });

    await t.step(
      "Record a clip: the next 10 s of the live picture as a file, from the viewers' session",
      async () => {
        await first.selectOption("#record-length", "10");
        const [download] = await Promise.all([
          first.waitForEvent("download", { timeout: 30_000 }),
          first.click("text=Record a clip"),
        ]);
        assert(
          new RegExp(`-${proxy.port}-\\d{8}T\\d{6}Z-10s\\.mp4$`).test(download.suggestedFilename()),
          download.suggestedFilename(),
        );
        assertStringIncludes(
          (await first.textContent("#record-said"))!,
          "Recording the next 10 s of the live picture as a file",
        );
        const probe = await probeFile((await download.path())!);
        assertEquals(await download.failure(), null);
        assertEquals([probe.codec, probe.width, probe.decodeErrors], ["h264", 320, ""]);
        assert(
          probe.lastPts! - probe.firstPts! >= 9 && probe.lastPts! - probe.firstPts! < 10,
          `10 s of pictures: ${JSON.stringify(probe)}`,
        );
        assertEquals(proxy.accepted(), 1, "the viewers' camera session, not one of its own");
        const audit = await stack.api("GET", "/api/audit?action=live.clip", q.apiToken);
        assertEquals(
          (audit.json.items as { detail: Record<string, unknown> }[]).map((e) => [
            e.detail.live,
            e.detail.seconds,
            e.detail.stream,
          ]),
          [[true, 10, cam.path]],
        );
        // A recording's stretch is another address: refused in words, nothing asked of the camera.
        const wrong = await fetch(
          `${stack.url}/api/live/${handle}/record.mp4?path=${
            encodeURIComponent(cam.path)
          }&from=2026-12-05T18:00:00Z`,
          { headers: { authorization: `Bearer ${q.apiToken}` } },
        );
        assertEquals([wrong.status, (await wrong.json()).message], [
          400,
          "from: record.mp4 saves the live picture from now; a stretch of the camera's recording is clip.mp4",
        ]);
        // The button is below the picture: back to the top, where the next steps look.
        await first.evaluate("scrollTo(0, 0)");
      },
    );

    await t.step("the picture comes back by itself when the agent reconnects", async () => {
      const status = () => first.textContent(".live-status");
      const ready = () =>
        fetch(`${stack.url}/api/live/${handle}?path=${encodeURIComponent(cam.path)}`, {
          headers: { authorization: `Bearer ${q.apiToken}` },
        }).then(async (r) => ({ status: r.status, body: await r.json() }));
      assertEquals((await ready()).status, 426, "a GET without upgrade: the cloud would serve it");
      await agent.stop();
      // The player first loses its stream, then learns from the cloud why it cannot start again.
      await first.waitForSelector("video[data-state=retrying]", { timeout: 10_000 });
      await first.waitForSelector('video[data-reason="agent reconnecting"]', { timeout: 20_000 });
      assertStringIncludes((await status()) ?? "", "agent reconnecting");
      assert(/Reconnecting in \d+ s: agent reconnecting\./.test((await status()) ?? ""));
      assertEquals(await ready(), {
        status: 503,
        body: { error: "agent_offline", message: "agent reconnecting" },
      });
      // Over the picture, not below it where a full-width camera pushes it off screen.
      const box = await first.locator(".live-status").boundingBox();
      const view = first.viewportSize()!;
      assert(box && box.y >= 0 && box.y + box.height <= view.height, JSON.stringify(box));
      await first.screenshot({ path: `${SCREENSHOTS}/live-03-reconnecting.png` });
      agent = await stack.runAgent(enrolled.state);
      // Attempts wait 1, 2, 4, 8, 15 s: the agent is back within the first few.
      await playsAgain(first, "the agent came back", 45_000);
      assertEquals(proxy.accepted(), 2, "one new RTSP connection at the camera");
    });

    await t.step(
      "a camera that stops sending pictures: the player says so, then plays again",
      async () => {
        // The camera hangs: its RTSP connection stays up, nothing comes through it.
        proxy.mute();
        const reason = "no picture from the camera for 10 seconds";
        await first.waitForSelector(`video[data-reason="${reason}"]`, { timeout: 30_000 });
        assertStringIncludes((await first.textContent(".live-status")) ?? "", reason);
        // Ops read why in the cloud's log, with the camera's handle.
        assert(
          stack.cloud.lines.some((l) => l.includes('"camera session ended"') && l.includes(handle)),
          "a warning in the cloud's log",
        );
        await playsAgain(first, "the camera came back", 30_000);
        assertEquals(proxy.accepted(), 3, "a fresh RTSP connection at the camera");
      },
    );

    await t.step(
      "Save the picture pressed as the page opens: it waits for the first picture, then saves it",
      async () => {
        const page = await context.newPage();
        // Pressed the moment the page is ready, before the camera's first picture can have come
        // (the player says playing once the stream opens, before its first picture is decoded).
        await page.addInitScript(`document.addEventListener("DOMContentLoaded", () => {
          window.__ncSaidAtClick = document.querySelector("video[data-live]").readyState;
          document.querySelector("[data-save-picture]").click();
          window.__ncSaid = document.getElementById("picture-said").textContent;
        })`);
        const [download] = await Promise.all([
          page.waitForEvent("download", { timeout: 30_000 }),
          page.goto(liveUrl),
        ]);
        assertEquals(await page.evaluate("window.__ncSaidAtClick"), 0, "no picture yet");
        // (It said "There is no picture to save yet." before, and saved nothing.)
        assertEquals(await page.evaluate("window.__ncSaid"), "Waiting for the first picture…");
        const jpeg = await probeFile(await download.path());
        assertEquals([jpeg.codec, jpeg.width, jpeg.decodeErrors], ["mjpeg", 320, ""]);
        assertStringIncludes((await page.textContent("#picture-said"))!, "Saved ");
        await page.close();
      },
    );

    await t.step(
      "a cloud that goes quiet without closing: the player gives up, then plays again",
      async () => {
        const page = await context.newPage();
        // The stall limit is 30 s; this page says 3 s so the step stays short.
        await page.addInitScript("window.__ncLiveStallSeconds = 3");
        await page.goto(liveUrl);
        await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
        // The node hangs: its connections stay open (no FIN, no RST) and nothing comes.
        const pid = stack.cloud.child.pid;
        Deno.kill(pid, "SIGSTOP");
        try {
          const reason = "no word from the cloud for 3 s";
          await page.waitForSelector(`video[data-reason="${reason}"]`, { timeout: 20_000 });
          assertStringIncludes((await page.textContent(".live-status")) ?? "", reason);
        } finally {
          Deno.kill(pid, "SIGCONT");
        }
        await playsAgain(page, "the cloud came back", 45_000);
        await page.close();
      },
    );

    await t.step(
      "a browser's media pipeline failing once: the player starts over and plays; failing each time: it stops and says so",
      async () => {
        // The browser's SourceBuffer refuses an append, as a failed pipeline makes it do
        // (WebKitGTK's: "The object is in an invalid state"): once, then every time.
        const failing = (times: number) =>
          `(() => { let left = ${times}; const real = SourceBuffer.prototype.appendBuffer;
          SourceBuffer.prototype.appendBuffer = function (b) {
            if (left-- > 0) throw new DOMException("The object is in an invalid state.", "InvalidStateError");
            return real.call(this, b);
          }; })()`;
        const once = await context.newPage();
        await once.addInitScript(failing(1));
        await once.goto(liveUrl);
        await once.waitForSelector(
          'video[data-reason="playback error: The object is in an invalid state."]',
          {
            timeout: 30_000,
          },
        );
        await once.waitForFunction(
          `document.querySelector("video[data-live]").currentTime > 1`,
          null,
          { timeout: 30_000 },
        );
        assertEquals(await once.getAttribute("video", "data-state"), "playing");
        await once.close();
        const always = await context.newPage();
        await always.addInitScript(failing(1_000));
        await always.goto(liveUrl);
        await always.waitForSelector("video[data-state=closed]", { timeout: 30_000 });
        assertStringIncludes(
          (await always.textContent(".live-status")) ?? "",
          "Stopped: playback error: The object is in an invalid state.",
        );
        await always.close();
      },
    );

    await t.step(
      "a stream path the camera does not have: the player says what it answered",
      async () => {
        const page = await context.newPage();
        await page.goto(`${stack.url}/live/${handle}?path=/no-such-stream`);
        await page.waitForSelector("video[data-state=retrying]", { timeout: 20_000 });
        const reason = (await page.getAttribute("video", "data-reason")) ?? "";
        assertEquals(reason, "the camera answered DESCRIBE with 404 Not Found");
        assertStringIncludes((await page.textContent(".live-status")) ?? "", reason);
        await page.close();
      },
    );

    await t.step("console: Live pill on RTSP ports, site grid, path form, audit", async () => {
      const site = await context.newPage();
      await site.goto(`${stack.url}/sites/${q.siteId}`);
      const h554 = q.device.handles[554];
      assertEquals(
        await site.getAttribute(`a[href="/live/${h554}"]`, "title"),
        "Watch the camera live in the browser",
      );
      await site.goto(`${stack.url}/sites/${q.siteId}/live`);
      assertEquals(await site.locator(`video[data-live="${h554}"]`).count(), 1);
      assertEquals(
        await site.locator(`video[data-live="${handle}"]`).count(),
        0,
        "not an RTSP port",
      );
      await site.goto(`${stack.url}/live/${handle}`);
      assertEquals(await site.locator("input[name=path]").count(), 1, "asks for the stream path");
      await site.close();
      const audit = JSON.parse((await api("GET", `/api/audit?action=live.open`)).text);
      assert(audit.items.length >= 2, JSON.stringify(audit));
      assertEquals(audit.items[0].detail.stream, cam.path);
    });

    await t.step(
      "a camera whose handle is revoked while its page retries: the player stops with the cloud's words",
      async () => {
        // Port 554 has no server: the page retries, saying the device refused; once an admin
        // revokes the handle, waiting cannot help and the player stops.
        const h554 = q.device.handles[554];
        const page = await context.newPage();
        await page.goto(`${stack.url}/live/${h554}?path=/x`);
        await page.waitForSelector("video[data-state=retrying]", { timeout: 20_000 });
        const revoked = await api("DELETE", `/api/handles/${h554}`);
        assertEquals(revoked.status, 200, revoked.text);
        await page.waitForSelector("video[data-state=closed]", { timeout: 30_000 });
        assertEquals(await page.getAttribute("video", "data-reason"), "unknown handle");
        assertEquals(await page.textContent(".live-status"), "Stopped: unknown handle.");
        await new Promise((r) => setTimeout(r, 1_500));
        assertEquals(
          await page.getAttribute("video", "data-state"),
          "closed",
          "no attempt after a refusal",
        );
        await page.close();
      },
    );

    await t.step(
      "refusals before the upgrade: no credential, another origin, bad path",
      async () => {
        const h = {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        };
        const anon = await fetch(`${stack.url}/api/live/${handle}?path=/live/cam1`, { headers: h });
        assertEquals(anon.status, 401, await anon.text());
        const cross = await fetch(`${stack.url}/api/live/${handle}?path=/live/cam1`, {
          headers: { ...h, cookie, origin: "https://evil.example" },
        });
        const crossBody = await cross.json();
        assertEquals([cross.status, crossBody.message], [
          403,
          "cross-origin WebSocket with a session cookie refused",
        ]);
        const bad = await fetch(`${stack.url}/api/live/${handle}?path=nope`, {
          headers: { ...h, authorization: `Bearer ${q.apiToken}` },
        });
        const badBody = await bad.json();
        assertEquals([bad.status, badBody.error], [400, "bad_request"]);
        const unknown = await fetch(`${stack.url}/api/live/h_nope?path=/x`, {
          headers: { ...h, authorization: `Bearer ${q.apiToken}` },
        });
        assertEquals(unknown.status, 404, await unknown.text());
      },
    );

    await t.step("CLI sessions: site scope decides", async () => {
      const wsUrl = `${stack.url.replace("http", "ws")}/api/live/${handle}?path=${cam.path}`;
      const firstMessage = (token: string) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
          ws.on("message", (data) => {
            resolve(`message ${data.toString().slice(0, 20)}`);
            ws.close();
          });
          ws.on("unexpected-response", (_q, res) => {
            let body = "";
            res.on("data", (c: Uint8Array) => (body += new TextDecoder().decode(c)));
            res.on("end", () => resolve(`${res.statusCode} ${body}`));
          });
          ws.on("error", (e) => resolve(`error ${e.message}`));
        });
      const inScope = await stack.cliSession(q);
      assertEquals(await firstMessage(inScope.token), 'message {"type":"init","code');
      const site = JSON.parse((await api("POST", "/api/sites", { name: "Elsewhere" })).text);
      const other = JSON.parse(
        (await api("POST", "/api/cli/sessions", { siteIds: [site.id] })).text,
      );
      const refused = await firstMessage(other.token);
      assert(refused.startsWith("403 "), refused);
      assertStringIncludes(refused, "this CLI session does not include the device's site");
    });

    await t.step("a revoked API token cuts a WebSocket viewer within 2 s", async () => {
      const minted = JSON.parse(
        (await api("POST", "/api/account/tokens", { name: "viewer" })).text,
      );
      const ws = new WebSocket(
        `${stack.url.replace("http", "ws")}/api/live/${handle}?path=${cam.path}`,
        { headers: { authorization: `Bearer ${minted.token}` } },
      );
      let bytes = 0;
      let initText = "";
      let origins = 0;
      const closed = new Promise<{ code: number; reason: string }>((r) =>
        ws.on("close", (code, reason) => r({ code, reason: reason.toString() }))
      );
      ws.on("message", (data, isBinary) => {
        if (isBinary) bytes += (data as Uint8Array).length;
        else if (JSON.parse(data.toString()).type === "init") initText = data.toString();
        else origins++;
      });
      await until("media bytes", () => bytes > 10_000, 20_000, 100);
      assert(/"codec":"avc1\.[0-9A-F]{6}"/.test(initText), initText);
      assert(origins >= 1, "the stream's origin time is announced for latency figures");
      const revokedAt = Date.now();
      const del = await api("DELETE", `/api/account/tokens/${minted.id}`);
      assertEquals(del.status < 300, true, del.text);
      const c = await closed;
      const took = Date.now() - revokedAt;
      assertEquals([c.code, c.reason], [1008, "credentials revoked"]);
      assert(took < 2_000, `closed ${took} ms after revocation`);
    });

    await t.step("signing out stops the picture within 2 s", async () => {
      const out = await fetch(`${stack.url}/api/auth/logout`, {
        method: "POST",
        headers: { cookie, "x-csrf-token": csrfToken },
      });
      assertEquals(out.status, 200, await out.text());
      const signedOutAt = Date.now();
      await first.waitForSelector("video[data-state=closed]", { timeout: 5_000 });
      const took = Date.now() - signedOutAt;
      assert(took < 2_000, `picture stopped ${took} ms after sign-out`);
      assertEquals(
        await first.getAttribute("video[data-live]", "data-reason"),
        "credentials revoked",
      );
      await first.screenshot({ path: `${SCREENSHOTS}/live-02-revoked.png` });
      // The last viewer gone, the camera session closes too.
      await until("the camera session to close", () => proxy.open() === 0, 20_000, 100);
    });

    await t.step(
      "a handshake the WebSocket layer refuses leaves no camera session open",
      async () => {
        const r = await fetch(`${stack.url}/api/live/${handle}?path=${cam.path}`, {
          headers: {
            authorization: `Bearer ${q.apiToken}`,
            connection: "Upgrade",
            upgrade: "websocket",
            "sec-websocket-version": "13",
          },
        });
        await r.body?.cancel();
        assertEquals(r.status, 400, "no Sec-WebSocket-Key");
        assert(proxy.accepted() >= 2, "the camera session was opened for it");
        await until("the camera session to close", () => proxy.open() === 0, 20_000, 100);
      },
    );
  } finally {
    await stack.stop();
  }
});
