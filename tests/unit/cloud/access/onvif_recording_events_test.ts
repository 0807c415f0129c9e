// What a camera's recording holds, from its search service: the FindEvents body, the results read
// as the alerts name them (starts only; a state from before the search and other topics left
// out), and the reading of a search until the camera completes it, 50 are read, or its time is up
// — never an empty answer for a search the camera had not finished.
import { assert, assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import {
  collectSearch,
  findEventsBody,
  readSearchPart,
  RECORDED_EVENTS_MAX,
  SEARCH_READS,
  type SearchPart,
  searchTokenOf,
} from "../../../../src/cloud/access/onvif_recording_events.ts";
import { OnvifError } from "../../../../src/cloud/access/onvif_soap.ts";

const result = (time: string, topic: string, item: string, value: string, extra = "") =>
  `<tt:Result><tt:RecordingToken>R1</tt:RecordingToken><tt:TrackToken>V1</tt:TrackToken>` +
  `<tt:Time>${time}</tt:Time><tt:Event><wsnt:Topic Dialect="x">${topic}</wsnt:Topic>` +
  `<wsnt:Message><tt:Message UtcTime="${time}"><tt:Source>${extra}</tt:Source><tt:Data>` +
  `<tt:SimpleItem Name="${item}" Value="${value}"/></tt:Data></tt:Message></wsnt:Message>` +
  `</tt:Event><tt:StartStateEvent>false</tt:StartStateEvent></tt:Result>`;

Deno.test("findEventsBody and searchTokenOf: the recording's token escaped, instants in UTC; the token read", () => {
  assertEquals(
    findEventsBody("R&1", Date.UTC(2026, 11, 5, 18), Date.UTC(2026, 11, 5, 19), 50, 10),
    `<tse:FindEvents><tse:StartPoint>2026-12-05T18:00:00.000Z</tse:StartPoint>` +
      `<tse:EndPoint>2026-12-05T19:00:00.000Z</tse:EndPoint><tse:Scope><tt:IncludedRecordings>` +
      `R&#38;1</tt:IncludedRecordings></tse:Scope><tse:SearchFilter/>` +
      `<tse:IncludeStartState>false</tse:IncludeStartState><tse:MaxMatches>50</tse:MaxMatches>` +
      `<tse:KeepAliveTime>PT10S</tse:KeepAliveTime></tse:FindEvents>`,
  );
  assertEquals(searchTokenOf("<tse:SearchToken> s-1 </tse:SearchToken>"), "s-1");
  assertEquals(searchTokenOf("<tse:FindEventsResponse/>"), null);
});

Deno.test("readSearchPart: starts of motion, tampering and inputs; ends, start states and other topics left out", () => {
  const part = readSearchPart(
    `<tse:ResultList><tt:SearchState>Searching</tt:SearchState>` +
      result("2026-12-05T18:12:40Z", "tns1:VideoSource/MotionAlarm", "State", "true") +
      result("2026-12-05T18:13:00Z", "tns1:VideoSource/MotionAlarm", "State", "false") +
      result(
        "2026-12-05T18:20:00Z",
        "tns1:RuleEngine/TamperDetector/Tamper",
        "IsTamper",
        "true",
      ) +
      result(
        "2026-12-05T18:30:00Z",
        "tns1:Device/Trigger/DigitalInput",
        "LogicalState",
        "true",
        `<tt:SimpleItem Name="InputToken" Value="Door"/>`,
      ) +
      result("2026-12-05T18:40:00Z", "tns1:RecordingHistory/Track/State", "IsDataPresent", "true") +
      result("2026-12-05T17:00:00Z", "tns1:VideoSource/MotionAlarm", "State", "true")
        .replace(">false</tt:StartStateEvent>", ">true</tt:StartStateEvent>") +
      `</tse:ResultList>`,
  );
  assertEquals(part, {
    state: "Searching",
    events: [
      { at: Date.UTC(2026, 11, 5, 18, 12, 40), type: "camera.motion" },
      { at: Date.UTC(2026, 11, 5, 18, 20), type: "camera.tamper" },
      { at: Date.UTC(2026, 11, 5, 18, 30), type: "camera.input", input: "Door" },
    ],
    results: 6,
    last: Date.UTC(2026, 11, 5, 18, 40),
  });
});

/** A camera's search as a list of parts, read in turn, each read moving a fake clock on 1 s. */
function camera(parts: SearchPart[]) {
  let t = 0, reads = 0;
  const asked: number[] = [];
  return {
    now: () => t,
    get reads() {
      return reads;
    },
    asked,
    read: (max: number) => {
      asked.push(max);
      t += 1000;
      return Promise.resolve(parts[Math.min(reads++, parts.length - 1)]);
    },
  };
}

const motion = (s: number) => ({ at: s * 1000, type: "camera.motion" as const });

Deno.test("collectSearch: read until complete, oldest first; 50 read stops it, with where to go on", async () => {
  const c = camera([
    { state: "Searching", events: [motion(5)], results: 2, last: 6000 },
    { state: "Completed", events: [motion(3)], results: 1, last: 3000 },
  ]);
  assertEquals(await collectSearch(c.read, c.now, 10_000, 99_000), {
    events: [motion(3), motion(5)],
    next: null,
    completed: true,
  });
  assertEquals(c.asked, [RECORDED_EVENTS_MAX, RECORDED_EVENTS_MAX - 2]);

  const full = camera([{ state: "Searching", events: [motion(1)], results: 50, last: 9000 }]);
  assertEquals(await collectSearch(full.read, full.now, 10_000, 99_000), {
    events: [motion(1)],
    next: 9001,
    completed: false,
  });
  // A capped search whose last result is its end has nothing after it.
  const capped = camera([{ state: "Completed", events: [], results: 50, last: 99_000 }]);
  assertEquals((await collectSearch(capped.read, capped.now, 10_000, 99_000)).next, null);
});

Deno.test("collectSearch: time up — what was found and where to go on; nothing found is the camera's silence, not an empty answer", async () => {
  const some = camera([
    { state: "Searching", events: [motion(2)], results: 1, last: 2000 },
    { state: "Searching", events: [], results: 0, last: null },
  ]);
  assertEquals(await collectSearch(some.read, some.now, 5_000, 99_000), {
    events: [motion(2)],
    next: 2001,
    completed: false,
  });
  assertEquals(some.reads, 5);
  const none = camera([{ state: "Searching", events: [], results: 0, last: null }]);
  const e = await assertRejects(() => collectSearch(none.read, none.now, 5_000, 99_000));
  assert(e instanceof OnvifError);
  assertEquals(e.message, "the camera did not finish searching its recording within 5 s");
  // A camera that ignores the wait (the clock hardly moves) is read a bounded number of times.
  let t = 0;
  const fast = () => Promise.resolve({ state: "Searching", events: [], results: 0, last: null });
  await assertRejects(() => collectSearch(() => (t++, fast()), () => 0, 5_000, 99_000));
  assertEquals(t, SEARCH_READS);
});
