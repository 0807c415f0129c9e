// A camera whose sound an admin turned off, through the RTSP gateway: its description loses the
// audio sections (line endings and everything else kept), and only the kept tracks may be set up.
import { assert, assertEquals } from "../../../../_fixtures/assert.ts";
import { setupOfKept, withoutAudio } from "../../../../../src/cloud/access/rtsp/sound_off.ts";

/** A camera's description: session lines, then video, audio, metadata and audio again. */
const LINES = [
  "v=0",
  "o=- 1 1 IN IP4 192.0.2.7",
  "s=Session",
  "a=control:*",
  "m=video 0 RTP/AVP 96",
  "a=rtpmap:96 H264/90000",
  "a=control:stream=0",
  "m=audio 0 RTP/AVP 97",
  "a=rtpmap:97 MPEG4-GENERIC/16000/1",
  "a=control:stream=1",
  "m=application 0 RTP/AVP 107",
  "a=control:rtsp://192.0.2.7:554/live/cam1/meta",
  "m=AUDIO 0 RTP/AVP 0",
  "a=control:stream=3",
  "",
];
const SDP = LINES.join("\r\n");
/** The same without its two audio sections (lines 7–9 and 12–13). */
const WITHOUT = LINES.filter((_, i) => !(i >= 7 && i <= 9) && !(i >= 12 && i <= 13));

Deno.test("sound off: the audio sections go, the rest stays byte for byte", () => {
  const f = withoutAudio(SDP);
  assertEquals(f.dropped, 2);
  assertEquals(f.kept, ["stream=0", "rtsp://192.0.2.7:554/live/cam1/meta"]);
  assertEquals(f.sdp, WITHOUT.join("\r\n"));
  // Bare LF endings are kept as they are; a description without sound is unchanged.
  const lf = SDP.replaceAll("\r\n", "\n");
  assertEquals(withoutAudio(lf).sdp, f.sdp.replaceAll("\r\n", "\n"));
  const silent = withoutAudio(f.sdp);
  assertEquals([silent.sdp, silent.dropped], [f.sdp, 0]);
});

Deno.test("sound off: a SETUP may name only a kept track", () => {
  const base = "rtsp://192.0.2.7:554/live/cam1/";
  const { kept } = withoutAudio(SDP);
  assert(setupOfKept(`${base}stream=0`, kept, base));
  assert(setupOfKept("rtsp://192.0.2.7:554/live/cam1/meta/", kept, base));
  for (const uri of [`${base}stream=1`, `${base}stream=3`, `${base}stream=10`, base, "*"]) {
    assert(!setupOfKept(uri, kept, base), uri);
  }
  // A track without a control of its own is the description's base.
  const bare = withoutAudio(
    "v=0\r\nm=video 0 RTP/AVP 96\r\nm=audio 0 RTP/AVP 0\r\na=control:a\r\n",
  );
  assertEquals(bare.kept, [""]);
  assert(setupOfKept("rtsp://h/live", bare.kept, "rtsp://h/live/"));
  assert(!setupOfKept("rtsp://h/live/a", bare.kept, "rtsp://h/live/"));
});
