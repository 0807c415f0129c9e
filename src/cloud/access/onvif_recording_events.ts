/**
 * What happened in a camera's own recording, asked of the camera's search service (ONVIF Profile
 * G): "someone broke in overnight — when was there motion?" is answered from the events the camera
 * wrote beside its pictures, not by watching hours of them. `FindEvents` starts a search over the
 * recording from an instant to another, `GetEventSearchResults` reads its results as the camera
 * finds them (a camera answers in parts, each with its search state), and `EndSearch` frees what
 * the camera holds for it. The events are read as the live alerts are (onvif_events.ts): motion,
 * tampering and alarm inputs starting; their ends and every other topic are left out.
 * @module
 */
import { escapeXml, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import { type CameraNotice, readNotice } from "./onvif_events.ts";
import { OnvifError } from "./onvif_soap.ts";

/** The most events one search returns (a page; the next one starts after its last). */
export const RECORDED_EVENTS_MAX = 50;

/** One event the camera's recording holds, as the cloud's alerts name it. */
export interface RecordedEvent {
  /** When, by the camera's recording (ms). */
  at: number;
  /** What: the alert's type. */
  type: "camera.motion" | "camera.tamper" | "camera.input";
  /** For an alarm input, which one, as the camera names it. */
  input?: string;
}

/** A part of a search's results. */
export interface SearchPart {
  /** The search's state as the camera says it (`Searching`, `Completed`…; "" when unsaid). */
  state: string;
  /** The events of this part the cloud shows. */
  events: RecordedEvent[];
  /** How many results the part held, shown or not. */
  results: number;
  /** The latest result's time (ms), shown or not; null when none had one. */
  last: number | null;
}

/** An instant as a search takes it: UTC, to the millisecond. */
const instant = (ms: number) => new Date(ms).toISOString();

/**
 * The body of a FindEvents over the recording `token` from `from` to `until` (ms), finding at most
 * `max` events, the search kept by the camera `keepS` seconds between reads.
 */
export function findEventsBody(
  token: string,
  from: number,
  until: number,
  max: number,
  keepS: number,
): string {
  return `<tse:FindEvents><tse:StartPoint>${instant(from)}</tse:StartPoint>` +
    `<tse:EndPoint>${instant(until)}</tse:EndPoint><tse:Scope><tt:IncludedRecordings>` +
    `${escapeXml(token)}</tt:IncludedRecordings></tse:Scope><tse:SearchFilter/>` +
    `<tse:IncludeStartState>false</tse:IncludeStartState><tse:MaxMatches>${max}</tse:MaxMatches>` +
    `<tse:KeepAliveTime>PT${keepS}S</tse:KeepAliveTime></tse:FindEvents>`;
}

/** The search's token in a FindEvents answer, or null. */
export function searchTokenOf(xml: string): string | null {
  const token = xmlTexts(xml, "SearchToken", 1, 128)[0]?.trim();
  return token && /^[\x21-\x7e]{1,128}$/.test(token) ? token : null;
}

/** The body of a GetEventSearchResults of `token`: at most `max`, waiting up to `waitS`. */
export function searchResultsBody(token: string, max: number, waitS: number): string {
  return `<tse:GetEventSearchResults><tse:SearchToken>${escapeXml(token)}</tse:SearchToken>` +
    `<tse:MinResults>1</tse:MinResults><tse:MaxResults>${max}</tse:MaxResults>` +
    `<tse:WaitTime>PT${waitS}S</tse:WaitTime></tse:GetEventSearchResults>`;
}

/** The body of an EndSearch of `token`. */
export function endSearchBody(token: string): string {
  return `<tse:EndSearch><tse:SearchToken>${escapeXml(token)}</tse:SearchToken></tse:EndSearch>`;
}

/** The event a notice starts, as the alerts name it, or null (an end, another topic). */
function eventOf(n: CameraNotice, at: number): RecordedEvent | null {
  if (n.motion === true) return { at, type: "camera.motion" };
  if (n.tamper === true) return { at, type: "camera.tamper" };
  if (n.input === true) {
    return { at, type: "camera.input", ...(n.inputName ? { input: n.inputName } : {}) };
  }
  return null;
}

/** A part of a search's results (a GetEventSearchResults answer); at most `max` read. */
export function readSearchPart(xml: string, max = RECORDED_EVENTS_MAX): SearchPart {
  const list = xmlBlocks(xml, "ResultList", 1)[0] ?? xml;
  const state = xmlTexts(list, "SearchState", 1, 32)[0] ?? "";
  const results = xmlBlocks(list, "Result", max);
  const events: RecordedEvent[] = [];
  let last: number | null = null;
  for (const r of results) {
    // A state the camera reports as it was when the search began is not something that happened.
    if ((xmlTexts(r, "StartStateEvent", 1, 8)[0] ?? "").toLowerCase() === "true") continue;
    const notice = readNotice(xmlBlocks(r, "Event", 1)[0] ?? "");
    const time = Date.parse(xmlTexts(r, "Time", 1, 64)[0] ?? "");
    const at = Number.isFinite(time) ? time : notice.at;
    if (at === null) continue;
    last = Math.max(last ?? at, at);
    const e = eventOf(notice, at);
    if (e) events.push(e);
  }
  return { state, events, results: results.length, last };
}

/** The most reads of one search's results (a camera that ignores the wait cannot spin us). */
export const SEARCH_READS = 40;

/** What a search of the recording found. */
export interface FoundEvents {
  /** The events, oldest first. */
  events: RecordedEvent[];
  /**
   * Where the next search starts (ms), when this one stopped short of its end — it found as many
   * as a search returns, or the camera was still searching when its time was up; else null.
   */
  next: number | null;
  /** Whether the camera said the search was complete (else it still holds it). */
  completed: boolean;
}

/**
 * Reads a search's results with `read(max)` (a GetEventSearchResults of at most `max`) until the
 * camera says it is complete, RECORDED_EVENTS_MAX are read, or `budgetMs` by `now` has passed, of a
 * search that ends at `until` (ms). OnvifError when the camera had not finished and found nothing
 * in that time (an empty answer would say, wrongly, that nothing happened).
 */
export async function collectSearch(
  read: (max: number) => Promise<SearchPart>,
  now: () => number,
  budgetMs: number,
  until: number,
): Promise<FoundEvents> {
  const end = now() + budgetMs;
  const events: RecordedEvent[] = [];
  let results = 0, last: number | null = null, completed = false;
  for (let reads = 0; reads < SEARCH_READS && results < RECORDED_EVENTS_MAX; reads++) {
    const part = await read(RECORDED_EVENTS_MAX - results);
    results += part.results;
    events.push(...part.events);
    if (part.last !== null) last = Math.max(last ?? part.last, part.last);
    if (/^completed$/i.test(part.state)) {
      completed = true;
      break;
    }
    if (now() >= end) break;
  }
  if (!completed && results < RECORDED_EVENTS_MAX && last === null) {
    throw new OnvifError(
      `the camera did not finish searching its recording within ${budgetMs / 1000} s`,
    );
  }
  events.sort((a, b) => a.at - b.at);
  const short = results >= RECORDED_EVENTS_MAX || !completed;
  return { events, next: short && last !== null && last < until ? last + 1 : null, completed };
}
