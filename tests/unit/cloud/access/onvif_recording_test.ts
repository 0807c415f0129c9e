import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  recordedRangeOf,
  recordingInformationBody,
  recordingInformationRangeOf,
  recordingsOf,
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

Deno.test("recordingsOf: every recording, named by its source's name, else description, else token; a bad token or a repeat left out", () => {
  const item = (token: string, source: string) =>
    `<trc:RecordingItem><tt:RecordingToken>${token}</tt:RecordingToken><tt:Configuration>` +
    `<tt:Source>${source}</tt:Source><tt:Content>x</tt:Content></tt:Configuration>` +
    `</trc:RecordingItem>`;
  assertEquals(
    recordingsOf(
      `<trc:GetRecordingsResponse>` +
        item("R1", "<tt:SourceId>V1</tt:SourceId><tt:Name>Gate &amp; yard</tt:Name>") +
        item("R2", "<tt:Name> </tt:Name><tt:Description>Channel 2</tt:Description>") +
        item("R3", "<tt:SourceId>V3</tt:SourceId>") +
        item("a b", "<tt:Name>Bad</tt:Name>") +
        item("R1", "<tt:Name>Again</tt:Name>") +
        `</trc:GetRecordingsResponse>`,
    ),
    [
      { token: "R1", name: "Gate & yard" },
      { token: "R2", name: "Channel 2" },
      { token: "R3", name: "R3" },
    ],
  );
  assertEquals(recordingsOf("<trc:GetRecordingsResponse/>"), []);
});

Deno.test("recordingInformationBody and its range: EarliestRecording and LatestRecording of one recording", () => {
  assertEquals(
    recordingInformationBody("R&2"),
    `<tse:GetRecordingInformation><tse:RecordingToken>R&#38;2</tse:RecordingToken>` +
      `</tse:GetRecordingInformation>`,
  );
  assertEquals(
    recordingInformationRangeOf(
      `<tse:RecordingInformation><tt:RecordingToken>R2</tt:RecordingToken>` +
        `<tt:EarliestRecording>2026-12-03T00:00:00Z</tt:EarliestRecording>` +
        `<tt:LatestRecording>2026-12-06T12:00:00Z</tt:LatestRecording></tse:RecordingInformation>`,
    ),
    { from: Date.UTC(2026, 11, 3), until: Date.UTC(2026, 11, 6, 12) },
  );
  assertEquals(recordingInformationRangeOf("<tse:RecordingInformation/>"), {
    from: null,
    until: null,
  });
});
