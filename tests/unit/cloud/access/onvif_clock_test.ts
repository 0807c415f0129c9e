import { assertEquals } from "../../../_fixtures/assert.ts";
import { cameraClockOf, setClockBody } from "../../../../src/cloud/access/onvif_clock.ts";

const answer = (inner: string) =>
  `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>${inner}<tt:UTCDateTime><tt:Time>` +
  `<tt:Hour>3</tt:Hour><tt:Minute>4</tt:Minute><tt:Second>5</tt:Second></tt:Time><tt:Date>` +
  `<tt:Year>2026</tt:Year><tt:Month>12</tt:Month><tt:Day>6</tt:Day></tt:Date></tt:UTCDateTime>` +
  `</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`;

Deno.test("cameraClockOf: the camera's UTC time, its offset from ours, how it keeps time, its zone and daylight saving", () => {
  const at = Date.UTC(2026, 11, 6, 4, 4, 5);
  assertEquals(
    cameraClockOf(
      answer(
        `<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>true</tt:DaylightSavings>` +
          `<tt:TimeZone><tt:TZ>CET-1CEST,M3.5.0,M10.5.0/3</tt:TZ></tt:TimeZone>`,
      ),
      at,
    ),
    {
      time: Date.UTC(2026, 11, 6, 3, 4, 5),
      offsetMs: -3_600_000,
      keptBy: "NTP",
      timeZone: "CET-1CEST,M3.5.0,M10.5.0/3",
      daylightSavings: true,
    },
  );
  assertEquals(
    cameraClockOf(answer(`<tt:DateTimeType>Other</tt:DateTimeType>`), at),
    {
      time: Date.UTC(2026, 11, 6, 3, 4, 5),
      offsetMs: -3_600_000,
      keptBy: null,
      timeZone: null,
      daylightSavings: false,
    },
    "what it does not say, or says oddly, is null",
  );
  assertEquals(cameraClockOf("<tds:GetSystemDateAndTimeResponse/>", at), null);
});

Deno.test("setClockBody: kept by the camera, to the nearest second, its zone escaped and kept, or left out", () => {
  assertEquals(
    setClockBody(Date.UTC(2026, 0, 2, 3, 4, 5, 600), false, "<UTC>0"),
    `<tds:SetSystemDateAndTime><tds:DateTimeType>Manual</tds:DateTimeType>` +
      `<tds:DaylightSavings>false</tds:DaylightSavings><tds:TimeZone><tt:TZ>&#60;UTC&#62;0</tt:TZ>` +
      `</tds:TimeZone><tds:UTCDateTime><tt:Time><tt:Hour>3</tt:Hour><tt:Minute>4</tt:Minute>` +
      `<tt:Second>6</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month>` +
      `<tt:Day>2</tt:Day></tt:Date></tds:UTCDateTime></tds:SetSystemDateAndTime>`,
  );
  assertEquals(
    setClockBody(Date.UTC(2026, 0, 2, 3, 4, 5, 400), true, null).includes(
      `<tds:DaylightSavings>true</tds:DaylightSavings><tds:UTCDateTime>`,
    ),
    true,
  );
  assertEquals(
    setClockBody(Date.UTC(2026, 0, 2, 3, 4, 5, 400), true, null).includes(
      "<tt:Second>5</tt:Second>",
    ),
    true,
  );
});
