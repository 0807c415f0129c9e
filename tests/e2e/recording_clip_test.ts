// A clip of a camera's recording from a camera that sends it as fast as it can: GStreamer's own
// ONVIF server (its `Rate-Control: no` honoured: it sends as fast as it encodes) behind a
// replaying front that records the requests and counts the bytes the camera sent. Ten minutes of a
// busy picture (about 75 MB) are asked through the real cloud and agent; the download stops
// reading after its first megabyte, and the camera is held (it sends no more than the tunnel's and
// the sockets' buffers hold, far from the whole clip, and its session stays open) until the
// download reads on; then the file is whole: 600 s of pictures that ffmpeg decodes without a word,
// audited `fast`.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { probeFile, replayProxy, startCamera } from "../_fixtures/rtsp.ts";
import { ONVIF_REPLAY_PATH } from "../_fixtures/onvif_service.ts";

Deno.test("Recording clip: a camera that sends its recording as fast as it can saves ten minutes, held by a download that stops reading, then whole", async () => {
  const stack = await Stack.start();
  try {
    // Snow at 1 Mbit/s: every picture costs its share, so ten minutes are about 75 MB.
    const rtsp = await startCamera({ recording: true, pattern: "snow", bitrate: 1000 });
    stack.defer(rtsp.close);
    const replaying = replayProxy(rtsp.port, ONVIF_REPLAY_PATH, rtsp.recordingPath!, {
      onvif: true,
    });
    stack.defer(replaying.close);
    const q = await stack.quickstart([replaying.port], "Recorder");
    const patched = await stack.api("PATCH", `/api/devices/${q.device.deviceId}`, q.apiToken, {
      protocols: { [replaying.port]: "rtsp" },
    });
    assertEquals(patched.status, 200, JSON.stringify(patched.json));
    await stack.agentFor(q);
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
