import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  recordedRangeOf,
  recordingTokenOf,
  replayUriBody,
} from "../../../../src/cloud/access/onvif_recording.ts";
import { liveKey } from "../../../../src/cloud/access/live_ws.ts";
import { rtspClock } from "../../../../src/cloud/live/rtsp_client.ts";

Deno.test("recordingTokenOf: the first recording's token; none, or one that is not a token, is null", () => {
  assertEquals(
    recordingTokenOf(
      `<trc:GetRecordingsResponse><trc:RecordingItem><tt:RecordingToken> Rec_1 </tt:RecordingToken>` +
        `</trc:RecordingItem><trc:RecordingItem><tt:RecordingToken>Rec_2</tt:RecordingToken>` +
        `</trc:RecordingItem></trc:GetRecordingsResponse>`,
    ),
    "Rec_1",
  );
  assertEquals(recordingTokenOf("<trc:GetRecordingsResponse/>"), null);
  assertEquals(recordingTokenOf("<tt:RecordingToken>a b</tt:RecordingToken>"), null);
});

Deno.test("recordedRangeOf: DataFrom and DataUntil as instants (any offset, fractions), null when absent or not a time", () => {
  assertEquals(
    recordedRangeOf(
      `<tse:GetRecordingSummaryResponse><tse:Summary><tt:DataFrom>2026-12-01T00:00:00Z` +
        `</tt:DataFrom><tt:DataUntil>2026-12-06T09:00:00.500+09:00</tt:DataUntil>` +
        `<tt:NumberRecordings>1</tt:NumberRecordings></tse:Summary>` +
        `</tse:GetRecordingSummaryResponse>`,
    ),
    { from: Date.UTC(2026, 11, 1), until: Date.UTC(2026, 11, 6, 0, 0, 0, 500) },
  );
  assertEquals(
    recordedRangeOf(`<tse:Summary><tt:DataFrom>yesterday</tt:DataFrom></tse:Summary>`),
    { from: null, until: null },
  );
});

Deno.test("replayUriBody, rtspClock and liveKey: the token escaped; the clock range's instant; a recording a session of its own", () => {
  assertEquals(
    replayUriBody("R&1"),
    `<trp:GetReplayUri><trp:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>` +
      `<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trp:StreamSetup><trp:RecordingToken>` +
      `R&#38;1</trp:RecordingToken></trp:GetReplayUri>`,
  );
  assertEquals(rtspClock(Date.UTC(2026, 11, 5, 18, 0, 0, 250)), "20261205T180000Z");
  assertEquals(liveKey("h-1", "/live"), "h-1 /live");
  assertEquals(
    liveKey("h-1", "/replay", Date.UTC(2026, 11, 5, 18)),
    "h-1 /replay from 2026-12-05T18:00:00.000Z",
  );
});
