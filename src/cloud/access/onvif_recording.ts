/**
 * A camera's own recording (its SD card or its disk) over ONVIF through its tunnel (Profile G):
 * what happened at 3 a.m. is watched from the live view, from the camera that saw it, without its
 * web page or the vendor's app. The camera's recording service lists its recordings
 * (`GetRecordings`: the first is played unless the viewer chooses another, as on an NVR that keeps
 * one per channel), its search service says from when to when it holds pictures
 * (`GetRecordingSummary`, or one recording's `GetRecordingInformation`), and its replay service
 * gives the RTSP path that plays them (`GetReplayUri`). The live view then plays that path from a
 * time: RTSP with `Require: onvif-replay` and `Range: clock=…` (live/rtsp_client.ts). Where the
 * services are, the recording's token and the camera's clock skew are asked once and kept for a
 * minute (onvif_places.ts); only the path of the URI is kept (its host is the camera's LAN
 * address).
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

/** One recording a camera keeps: its token, and what it records in the camera's words. */
export interface RecordingItem {
  token: string;
  /** Its source's name (`Camera 1`, an NVR's channel), its description, else its token. */
  name: string;
}

/** The most recordings of a camera listed (an NVR keeps one per channel). */
export const RECORDINGS_MAX = 64;

/** Where a camera's recordings are: its services, the recordings it keeps, its clock skew. */
export interface RecordingPlace {
  recording: string;
  replay: string;
  /** The search service (null: the camera has none; its range is then not known). */
  search: string | null;
  /** Its recordings, as it lists them (at least one); the first is played unless one is chosen. */
  recordings: RecordingItem[];
  skew: number;
}

/** The recording as the live view plays it. */
export interface Recorded {
  /** The RTSP path (and query) that replays it. */
  path: string;
  /** The recording's token on the camera. */
  token: string;
  /** Every recording the camera keeps (to choose another). */
  recordings: RecordingItem[];
  /** The first and last pictures it holds (ms), or null when the camera does not say. */
  from: number | null;
  until: number | null;
}

/** Whether `token` can be a recording's token (printable, at most 64). */
const isToken = (token: string) => /^[\x21-\x7e]{1,64}$/.test(token);

/** The first recording's token in a GetRecordings answer, or null. */
export function recordingTokenOf(xml: string): string | null {
  return recordingsOf(xml)[0]?.token ?? null;
}

/**
 * The recordings a GetRecordings answer lists (at most RECORDINGS_MAX), each named by its source's
 * name, else its description, else its token; one whose token is not a token is left out.
 */
export function recordingsOf(xml: string): RecordingItem[] {
  const items = xmlBlocks(xml, "RecordingItem", RECORDINGS_MAX);
  // An answer without items (a bare list of tokens) still names its first recording.
  const blocks = items.length ? items : [xml];
  const out: RecordingItem[] = [];
  for (const b of blocks) {
    const token = xmlTexts(b, "RecordingToken", 1, 64)[0]?.trim() ?? "";
    if (!isToken(token) || out.some((r) => r.token === token)) continue;
    const source = xmlBlocks(b, "Source", 1)[0] ?? "";
    const name = [xmlTexts(source, "Name", 1, 128)[0], xmlTexts(source, "Description", 1, 128)[0]]
      .map((t) => t?.replace(/\p{Cc}/gu, "").trim()).find((t) => t) ?? token;
    out.push({ token, name });
  }
  return out;
}

/** The body of a GetRecordingInformation of the recording `token` (search service). */
export function recordingInformationBody(token: string): string {
  return `<tse:GetRecordingInformation><tse:RecordingToken>${escapeXml(token)}` +
    `</tse:RecordingToken></tse:GetRecordingInformation>`;
}

/** The range a GetRecordingInformation answer gives (`EarliestRecording`, `LatestRecording`). */
export function recordingInformationRangeOf(
  xml: string,
): { from: number | null; until: number | null } {
  return {
    from: instant(xmlTexts(xml, "EarliestRecording", 1, 64)[0]),
    until: instant(xmlTexts(xml, "LatestRecording", 1, 64)[0]),
  };
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
    const recordings = recordingsOf(await soap.call(recording, "<trc:GetRecordings/>", true));
    if (!recordings.length) throw new OnvifError("the camera lists no recording");
    const search = (await soap.service("Search", "")) || null;
    return { recording, replay, search, recordings, skew: soap.skew };
  }

  /**
   * The path that replays the recording `token` (by default the first), and the range it holds
   * where the camera says: its recording summary when it keeps one recording, else that
   * recording's own information. Null when the camera keeps no recording `token`.
   */
  async describe(place: RecordingPlace, token?: string): Promise<Recorded | null> {
    const chosen = token ?? place.recordings[0].token;
    if (!place.recordings.some((r) => r.token === chosen)) return null;
    const soap = this.soap(place.skew);
    const answer = await soap.call(place.replay, replayUriBody(chosen), true);
    const uri = xmlTexts(answer, "Uri", 1, 2048)[0];
    const path = uri ? pathOfUri(uri) : null;
    if (!path) throw new OnvifError("the camera gave no RTSP address to replay its recording");
    const [ask, read] = place.recordings.length > 1
      ? [recordingInformationBody(chosen), recordingInformationRangeOf]
      : ["<tse:GetRecordingSummary/>", recordedRangeOf];
    const range = place.search
      ? await soap.call(place.search, ask, true).then(read, (e) => {
        if (e instanceof OnvifError) return { from: null, until: null };
        throw e;
      })
      : { from: null, until: null };
    return { path, token: chosen, recordings: place.recordings, ...range };
  }

  /**
   * The events the recording `token` holds from `from` to `until` (ms; at most RECORDED_EVENTS_MAX),
   * read for up to `budgetMs`; OnvifError when the camera has no search service, refuses, or found
   * nothing it had finished looking for in that time.
   */
  async findEvents(
    place: RecordingPlace,
    token: string,
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
    const search = searchTokenOf(
      await soap.call(
        place.search,
        findEventsBody(token, from, until, RECORDED_EVENTS_MAX, SEARCH_KEEP_S),
        true,
      ),
    );
    if (!search) throw new OnvifError("the camera began no search of its recording");
    let completed = false;
    try {
      const found = await collectSearch(
        (max) =>
          soap.call(place.search!, searchResultsBody(search, max, SEARCH_WAIT_S), true)
            .then((xml) => readSearchPart(xml, max)),
        this.now,
        budgetMs,
        until,
      );
      completed = found.completed;
      return found;
    } finally {
      // A search the camera still holds is ended (it frees what the camera keeps for it).
      if (!completed) await soap.call(place.search, endSearchBody(search), true).catch(() => {});
    }
  }
}
