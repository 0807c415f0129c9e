// A camera's sound in the live view, end to end: a real cloud and agent, GStreamer's camera sending
// a 440 Hz tone in AAC beside its picture, Chromium playing `/live/{handle}`. The page plays muted
// (browsers play on their own only muted) and says the stream has sound; the picture moves as
// without sound; "Turn sound on" unmutes it and the page's own audio analysis hears the tone at 440 Hz; M
// mutes it again. "Record a clip" saves both tracks, which ffmpeg decodes whole. A second camera
// sends its tone in G.711 A-law, which no browser takes: the cloud makes it FLAC, Chromium plays
// it (440 Hz heard) and its clip keeps it. Both draw their thumbnails on the site page and play
// in the site's grid, muted, each tile offering its sound, one camera heard at a time.
import type { Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { probeFile, probeStreams, startCamera } from "../_fixtures/rtsp.ts";
import { launchBrowser, SCREENSHOTS, signedInContext } from "../_fixtures/browser.ts";

/** Pictures presented while 2 s of the stream play (the video's own time; 30 s at most). */
function frames(page: Page): Promise<number> {
  return page.evaluate(`new Promise((resolve, reject) => {
    const v = document.querySelector("video[data-live]");
    let n = 0, first = null;
    const limit = setTimeout(() => reject(new Error("2 s of stream not played in 30 s")), 30000);
    const tick = (now, m) => {
      n++; first ??= m.mediaTime;
      if (m.mediaTime - first < 2) return v.requestVideoFrameCallback(tick);
      clearTimeout(limit); resolve(n);
    };
    v.requestVideoFrameCallback(tick);
  })`);
}

/**
 * What the page's video sounds like: the loudest frequency (Hz) and its level (dB) over about a
 * second, through Web Audio's analyser fed from the video element (what its speakers would get).
 */
function listen(page: Page): Promise<{ hz: number; db: number }> {
  return page.evaluate(`(async () => {
    const v = document.querySelector("video[data-live]");
    const ctx = window.__ncAudio ??= new AudioContext();
    await ctx.resume();
    const an = window.__ncAnalyser ??= (() => {
      const a = ctx.createAnalyser(); a.fftSize = 8192; a.smoothingTimeConstant = 0;
      const src = ctx.createMediaElementSource(v); src.connect(a); a.connect(ctx.destination);
      return a;
    })();
    const bins = new Float32Array(an.frequencyBinCount);
    let best = { hz: 0, db: -Infinity };
    // What played before the call (the analyser's last window) is not counted.
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100));
      an.getFloatFrequencyData(bins);
      for (let k = 1; k < bins.length; k++) {
        if (bins[k] > best.db) best = { hz: k * ctx.sampleRate / an.fftSize, db: bins[k] };
      }
    }
    return best;
  })()`);
}

/**
 * Saves the next 5 s of a camera's live picture; its sound track as ffprobe reads it, and how
 * many seconds of sound ffmpeg decodes from it (null: the clip has no sound).
 */
async function clipSound(stack: Stack, token: string, handle: string, path: string) {
  const clip = await fetch(
    `${stack.url}/api/live/${handle}/record.mp4?path=${encodeURIComponent(path)}&seconds=5`,
    { headers: { authorization: `Bearer ${token}` } },
  );
  assertEquals(clip.status, 200);
  const file = await Deno.makeTempFile({ suffix: ".mp4" });
  try {
    await Deno.writeFile(file, new Uint8Array(await clip.arrayBuffer()));
    const probe = await probeFile(file);
    assertEquals([probe.codec, probe.width, probe.decodeErrors], ["h264", 320, ""]);
    const { streams, stderr } = await probeStreams(file);
    assertEquals(stderr, "");
    const track = streams.find((x) => x.type === "audio");
    if (!track) return null;
    const pcm = await new Deno.Command("ffmpeg", {
      args: ["-v", "error", "-i", file, "-map", "0:a", "-f", "s16le", "-ac", "1", "-"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(pcm.stderr), "");
    return { ...track, seconds: pcm.stdout.length / 2 / track.sampleRate! };
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("live sound: AAC plays muted, Turn sound on plays the 440 Hz tone, M mutes it; G.711 plays as FLAC; clips keep it", async (t) => {
  const stack = await Stack.start();
  const cam = await startCamera({ audio: true });
  stack.defer(cam.close);
  const g711 = await startCamera({ audio: "pcma" });
  stack.defer(g711.close);
  const browser = await launchBrowser();
  stack.defer(() => browser.close());
  try {
    const q = await stack.quickstart([cam.port, g711.port]);
    await stack.agentFor(q);
    const handle = q.device.handles[cam.port];
    const user = await stack.addUser(q.tenantId, "viewer");
    const context = await signedInContext(
      browser,
      stack.url,
      await stack.signIn(user.email, user.password),
    );
    const page = await context.newPage();
    await page.goto(`${stack.url}/live/${handle}?path=${encodeURIComponent(cam.path)}`);
    await page.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
    await page.waitForFunction(`document.querySelector("video[data-live]").currentTime > 0`, null, {
      timeout: 30_000,
    });

    // A viewer is not offered the camera's sound setting (an admin's).
    assertEquals(await page.locator("select[data-live-sound]").count(), 0);
    // Playing, muted, and the page says there is sound and offers it.
    assertStringIncludes(
      (await page.textContent(".live-status")) ?? "",
      "with sound (AAC)",
    );
    const soundOn = page.getByRole("button", { name: "Turn sound on", exact: true });
    const soundOff = page.getByRole("button", { name: "Turn sound off", exact: true });
    await soundOn.waitFor({ state: "visible" });
    assertEquals(await page.evaluate(`document.querySelector("video[data-live]").muted`), true);
    // The sound track does not hold the picture back.
    const n = await frames(page);
    assert(n > 20, `frames presented in 2 s of stream with sound: ${n}`);

    // "Turn sound on": the tone reaches the page's audio output.
    await soundOn.click();
    await soundOff.waitFor({ state: "visible" });
    assertEquals(await page.evaluate(`document.querySelector("video[data-live]").muted`), false);
    const heard = await listen(page);
    assert(Math.abs(heard.hz - 440) < 10 && heard.db > -60, `heard ${JSON.stringify(heard)}`);
    const decoded = await page.evaluate(
      `document.querySelector("video[data-live]").webkitAudioDecodedByteCount`,
    ) as number;
    assert(decoded > 0, `audio bytes decoded: ${decoded}`);
    await page.screenshot({ path: `${SCREENSHOTS}/live-sound-on.png` });

    // M mutes it again; the analyser hears nothing then.
    await page.keyboard.press("m");
    await soundOn.waitFor({ state: "visible" });
    assertEquals(await page.evaluate(`document.querySelector("video[data-live]").muted`), true);
    const quiet = await listen(page);
    assert(quiet.db < -100, `muted, the loudest bin is ${JSON.stringify(quiet)}`);

    await t.step("a clip of the live picture keeps the AAC: both tracks decode whole", async () => {
      const track = await clipSound(stack, q.apiToken, handle, cam.path);
      assertEquals([track?.codec, track?.sampleRate], ["aac", 16000]);
      // About 5 s of sound, from the clip's first keyframe on.
      assert(track!.seconds > 4 && track!.seconds < 6, `seconds of sound: ${track?.seconds}`);
    });

    await t.step("a G.711 camera's sound plays too, as FLAC, and its clip keeps it", async () => {
      const other = await context.newPage();
      const h = q.device.handles[g711.port];
      await other.goto(`${stack.url}/live/${h}?path=${encodeURIComponent(g711.path)}`);
      await other.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
      assertStringIncludes((await other.textContent(".live-status")) ?? "", "with sound (G.711)");
      await other.getByRole("button", { name: "Turn sound on", exact: true }).click();
      const heard = await listen(other);
      assert(Math.abs(heard.hz - 440) < 10 && heard.db > -60, `heard ${JSON.stringify(heard)}`);
      await other.close();
      const track = await clipSound(stack, q.apiToken, h, g711.path);
      assertEquals([track?.codec, track?.sampleRate], ["flac", 8000]);
      assert(track!.seconds > 4 && track!.seconds < 6, `seconds of sound: ${track?.seconds}`);
    });

    await t.step(
      "the site page's thumbnails and the site's grid: both cameras with sound, muted, one heard at a time",
      async () => {
        const ports = [cam.port, g711.port];
        const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
          protocols: Object.fromEntries(ports.map((p) => [p, "rtsp"])),
          streamPaths: { [cam.port]: cam.path, [g711.port]: g711.path },
        });
        assertEquals(patched.status, 200);
        // Each thumbnail is drawn from the first picture of a stream whose segments carry sound too.
        const site = await context.newPage();
        await site.goto(`${stack.url}/sites/${q.siteId}`);
        for (const port of ports) {
          const thumb = `canvas[data-thumb="${q.device.handles[port]}"]`;
          await site.locator(thumb).scrollIntoViewIfNeeded();
          await site.waitForSelector(`${thumb}[data-state=ok]`, { timeout: 30_000 });
          const colours = await site.evaluate(`(() => {
          const c = document.querySelector(${JSON.stringify(thumb)});
          const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
          const seen = new Set();
          for (let i = 0; i < px.length; i += 4) seen.add((px[i] >> 4) + "," + (px[i + 1] >> 4) + "," + (px[i + 2] >> 4));
          return seen.size;
        })()`) as number;
          assert(
            colours > 8,
            `port ${port}'s thumbnail holds ${colours} colours: no picture drawn`,
          );
        }
        await site.close();
        // The grid: both tiles play, muted, each saying its sound and offering it.
        const grid = await context.newPage();
        await grid.goto(`${stack.url}/sites/${q.siteId}/live`);
        await grid.waitForFunction(
          `(() => {
          const vs = [...document.querySelectorAll(".live-tile video")];
          return vs.length === 2 && vs.every((v) => v.dataset.state === "playing" && v.currentTime > 0);
        })()`,
          null,
          { timeout: 30_000 },
        );
        const tiles = await grid.evaluate(
          `[...document.querySelectorAll(".live-tile")].map((t) => ({
        said: t.querySelector(".live-status").textContent,
        muted: t.querySelector("video").muted,
        sound: !t.querySelector("[data-sound]").hidden,
      }))`,
        ) as { said: string; muted: boolean; sound: boolean }[];
        assertEquals(
          tiles.map((x) => [/with sound \((AAC|G\.711)\)/.exec(x.said)?.[1], x.muted, x.sound])
            .sort(),
          [["AAC", true, true], ["G.711", true, true]],
          JSON.stringify(tiles),
        );
        // One camera heard at a time: turning one tile's sound on turns the other's off.
        const tile = (codec: string) =>
          grid.locator(".live-tile", { hasText: `with sound (${codec})` });
        const heard = () =>
          grid.evaluate(`[...document.querySelectorAll(".live-tile")].map((t) =>
          [t.querySelector(".live-status").textContent.includes("AAC") ? "AAC" : "G.711",
           t.querySelector("video").muted, t.querySelector("[data-sound]").textContent.trim()]
        ).sort()`);
        await tile("AAC").getByRole("button", { name: "Turn sound on", exact: true }).click();
        assertEquals(await heard(), [
          ["AAC", false, "Turn sound off"],
          ["G.711", true, "Turn sound on"],
        ]);
        await tile("G.711").getByRole("button", { name: "Turn sound on", exact: true }).click();
        assertEquals(await heard(), [
          ["AAC", true, "Turn sound on"],
          ["G.711", false, "Turn sound off"],
        ]);
        await grid.screenshot({ path: `${SCREENSHOTS}/live-sound-grid.png` });
        await grid.close();
      },
    );

    await t.step(
      "an admin turns the camera's sound off: the picture comes back without it, a clip too; on again",
      async () => {
        const admin = await stack.addUser(q.tenantId, "admin");
        const adminContext = await signedInContext(
          browser,
          stack.url,
          await stack.signIn(admin.email, admin.password),
        );
        const live = await adminContext.newPage();
        await live.goto(`${stack.url}/live/${handle}?path=${encodeURIComponent(cam.path)}`);
        await live.waitForSelector("video[data-state=playing]", { timeout: 30_000 });
        assertStringIncludes((await live.textContent(".live-status")) ?? "", "with sound (AAC)");
        assertEquals(await live.inputValue("select[data-live-sound]"), "on");
        // Each reason a player shows, kept (a retry shows one for a second).
        for (const p of [live, page]) {
          await p.evaluate(`(() => {
            window.__reasons = [];
            const v = document.querySelector("video[data-live]");
            new MutationObserver(() => v.dataset.reason && window.__reasons.push(v.dataset.reason))
              .observe(v, { attributes: true, attributeFilter: ["data-reason"] });
          })()`);
        }
        await live.selectOption("select[data-live-sound]", "off");
        await live.waitForSelector("#live-sound-said:has-text('Saved: sound never played')");
        // Every page playing it (the viewer's too) is told why and reconnects, without the sound.
        for (const p of [live, page]) {
          await p.waitForFunction(
            `window.__reasons.includes("the camera's sound was turned off by an admin")`,
            null,
            { timeout: 15_000 },
          );
          await p.waitForFunction(
            `document.querySelector("video[data-live]").dataset.state === "playing" &&
           !document.querySelector(".live-status").textContent.includes("with sound")`,
            null,
            { timeout: 30_000 },
          );
          assertEquals(await p.locator("[data-sound]").isHidden(), true);
        }
        assertEquals(await clipSound(stack, q.apiToken, handle, cam.path), null);
        const audit = await stack.api("GET", "/api/audit?action=device.update", q.apiToken);
        const entries = audit.json.items as { actor: string; detail: Record<string, unknown> }[];
        // The sound setting's one change, by the admin (the step before set protocols and paths).
        assertEquals(
          entries.filter((e) => "liveSound" in e.detail).map((e) => [e.actor, e.detail.liveSound]),
          [[`user:${admin.userId}`, false]],
        );
        // A reload shows what was saved; on again, the sound comes back.
        await live.reload();
        assertEquals(await live.inputValue("select[data-live-sound]"), "off");
        await live.selectOption("select[data-live-sound]", "on");
        await live.waitForFunction(
          `document.querySelector(".live-status").textContent.includes("with sound (AAC)")`,
          null,
          { timeout: 30_000 },
        );
        await adminContext.close();
      },
    );
  } finally {
    await stack.stop();
  }
});
