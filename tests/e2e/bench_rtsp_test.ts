// The RTSP bench's clients against the real camera fixture at 2 Mbit/s (bench/rtsp.ts): light
// players and an ffmpeg decoder all receive pictures with nothing lost, and a player joining does
// not disturb those already playing (the bench relies on it: it sends PLAY without a Range, on
// which GStreamer's shared pipeline would seek). No timing is asserted.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import {
  CAMERA_2M_ARGS,
  CAMERA_PATH,
  decodeErrors,
  measureRtsp,
  startCamera,
} from "../../bench/rtsp.ts";
import { RtspPlayer } from "../../bench/rtsp_player.ts";

async function until(ok: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("bench RTSP clients: pictures on every client, 0 lost, joins disturb no one", async () => {
  const cam = await startCamera(CAMERA_2M_ARGS);
  if ("unavailable" in cam) throw new Error(cam.unavailable);
  const url = `rtsp://127.0.0.1:${cam.port}/${CAMERA_PATH}`;
  try {
    const r = await measureRtsp(url, 3, 1, 1, { camera: () => 0 });
    assertEquals(r.flowing, 3, JSON.stringify(r));
    assertEquals(decodeErrors(r), 0, JSON.stringify(r));
    assertEquals(r.failed, 0, JSON.stringify(r));
    assert(r.framesChecked > 0 && r.framesDecoded > 0, JSON.stringify(r));
    assert(r.mbpsMin > 0, JSON.stringify(r));
    assert(typeof r.cores.clients === "number" && typeof r.cores.camera === "number");

    const first = await RtspPlayer.play(url);
    try {
      await until(() => first.check.counts.frames > 0, "the first player's picture");
      const others = [await RtspPlayer.play(url), await RtspPlayer.play(url)];
      await until(() => others.every((p) => p.check.counts.frames > 0), "the others' pictures");
      const seen = first.check.counts.packets;
      await until(() => first.check.counts.packets > seen + 20, "more packets");
      for (const p of others) p.close();
      await Promise.all(others.map((p) => p.ended));
      assertEquals(first.check.counts.lost, 0, JSON.stringify(first.check.counts));
      assertEquals(first.check.counts.malformed, 0, JSON.stringify(first.check.counts));
      assertEquals(first.error, null);
    } finally {
      first.close();
      await first.ended;
    }
  } finally {
    await cam.close();
  }
});
