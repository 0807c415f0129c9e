/**
 * A camera's own recording (its SD card or its disk) over ONVIF through its tunnel (Profile G):
 * what happened at 3 a.m. is watched from the live view, from the camera that saw it, without its
 * web page or the vendor's app. The camera's recording service lists its recordings
 * (`GetRecordings`: the first is played), its search service says from when to when it holds
 * pictures (`GetRecordingSummary`), and its replay service gives the RTSP path that plays them
 * (`GetReplayUri`). The live view then plays that path from a time: RTSP with
 * `Require: onvif-replay` and `Range: clock=…` (live/rtsp_client.ts). Where the services are, the
 * recording's token and the camera's clock skew are asked once and kept for a minute
 * (onvif_places.ts); only the path of the URI is kept (its host is the camera's LAN address).
 * @module
 */
import { escapeXml, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { OnvifCamera, OnvifError, pathOfUri } from "./onvif_soap.ts";
import {
  collectSearch,
  endSearchBody,
  findEventsBody,
  type FoundEvents,
  readSearchPart,
  RECORDED_EVENTS_MAX,
  searchResultsBody,
  searchTokenOf,
} from "./onvif_recording_events.ts";

/** Seconds the camera keeps a search between two reads of its results. */
const SEARCH_KEEP_S = 10;
/** Seconds each read of a search's results waits for the camera to find more. */
const SEARCH_WAIT_S = 1;

/** Where a camera's recording is: its services, the recording played, its clock skew. */
export interface RecordingPlace {
  recording: string;
  replay: string;
  /** The search service (null: the camera has none; its range is then not known). */
  search: string | null;
  token: string;
  skew: number;
}

/** The recording as the live view plays it. */
export interface Recorded {
  /** The RTSP path (and query) that replays it. */
  path: string;
  /** The recording's token on the camera. */
  token: string;
  /** The first and last pictures it holds (ms), or null when the camera does not say. */
  from: number | null;
  until: number | null;
}

/** The first recording's token in a GetRecordings answer, or null. */
export function recordingTokenOf(xml: string): string | null {
  const token = xmlTexts(xml, "RecordingToken", 1, 64)[0]?.trim();
  return token && /^[\x21-\x7e]{1,64}$/.test(token) ? token : null;
}

/** An xs:dateTime in UTC (`2026-12-06T03:00:00Z`, fractions allowed) as ms, or null. */
function instant(text: string | undefined): number | null {
  const t = (text ?? "").trim();
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/.test(t)) return null;
  const ms = Date.parse(t);
  return Number.isFinite(ms) ? ms : null;
}

/** The range a GetRecordingSummary answer gives (`DataFrom`, `DataUntil`), each null if unsaid. */
export function recordedRangeOf(xml: string): { from: number | null; until: number | null } {
  const summary = xmlBlocks(xml, "Summary", 1)[0] ?? xml;
  return {
    from: instant(xmlTexts(summary, "DataFrom", 1, 64)[0]),
    until: instant(xmlTexts(summary, "DataUntil", 1, 64)[0]),
  };
}

/** The body of a GetReplayUri of the recording `token` over RTSP. */
export function replayUriBody(token: string): string {
  return `<trp:GetReplayUri><trp:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>` +
    `<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trp:StreamSetup><trp:RecordingToken>` +
    `${escapeXml(token)}</trp:RecordingToken></trp:GetReplayUri>`;
}

/** One camera's recording over `http` (its web port). */
export class OnvifRecording extends OnvifCamera {
  /** Asks the camera where its recording is; OnvifError when it keeps none over ONVIF. */
  async locate(): Promise<RecordingPlace> {
    const soap = this.soap();
    await soap.syncClock();
    const recording = await soap.service("Recording", "");
    const replay = await soap.service("Replay", "");
    if (!recording || !replay) {
      throw new OnvifError(
        `the camera has no ${recording ? "replay" : "recording"} service over ONVIF: it keeps ` +
          "no recording the cloud can play (play it from the camera's own web page)",
      );
    }
    const token = recordingTokenOf(await soap.call(recording, "<trc:GetRecordings/>", true));
    if (!token) throw new OnvifError("the camera lists no recording");
    const search = (await soap.service("Search", "")) || null;
    return { recording, replay, search, token, skew: soap.skew };
  }

  /** The path that replays the recording, and the range it holds where the camera says. */
  async describe(place: RecordingPlace): Promise<Recorded> {
    const soap = this.soap(place.skew);
    const answer = await soap.call(place.replay, replayUriBody(place.token), true);
    const uri = xmlTexts(answer, "Uri", 1, 2048)[0];
    const path = uri ? pathOfUri(uri) : null;
    if (!path) throw new OnvifError("the camera gave no RTSP address to replay its recording");
    const range = place.search
      ? await soap.call(place.search, "<tse:GetRecordingSummary/>", true)
        .then(recordedRangeOf, (e) => {
          if (e instanceof OnvifError) return { from: null, until: null };
          throw e;
        })
      : { from: null, until: null };
    return { path, token: place.token, ...range };
  }

  /**
   * The events the recording holds from `from` to `until` (ms; at most RECORDED_EVENTS_MAX), read
   * for up to `budgetMs`; OnvifError when the camera has no search service, refuses, or found
   * nothing it had finished looking for in that time.
   */
  async findEvents(
    place: RecordingPlace,
    from: number,
    until: number,
    budgetMs: number,
  ): Promise<FoundEvents> {
    if (!place.search) {
      throw new OnvifError(
        "the camera has no search service over ONVIF: it cannot say what its recording holds",
      );
    }
    const soap = this.soap(place.skew);
    const token = searchTokenOf(
      await soap.call(
        place.search,
        findEventsBody(place.token, from, until, RECORDED_EVENTS_MAX, SEARCH_KEEP_S),
        true,
      ),
    );
    if (!token) throw new OnvifError("the camera began no search of its recording");
    let completed = false;
    try {
      const found = await collectSearch(
        (max) =>
          soap.call(place.search!, searchResultsBody(token, max, SEARCH_WAIT_S), true)
            .then((xml) => readSearchPart(xml, max)),
        this.now,
        budgetMs,
        until,
      );
      completed = found.completed;
      return found;
    } finally {
      // A search the camera still holds is ended (it frees what the camera keeps for it).
      if (!completed) await soap.call(place.search, endSearchBody(token), true).catch(() => {});
    }
  }
}
