// A webhook's active hours: a daytime window, one that runs overnight (and belongs to the day it
// starts on), a whole day, in a time zone, across a daylight-saving change.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  describeSchedule,
  isTimeZone,
  localTime,
  scheduleActive,
} from "../../../../src/cloud/events/schedule.ts";

const utc = (d: string) => Date.parse(`${d}Z`);
// 2026-12-04 is a Friday.
const FRI = 5, SAT = 6, SUN = 0;

Deno.test("schedule: none is always; a daytime window on chosen days, its end excluded", () => {
  assert(scheduleActive(null, utc("2026-12-04T03:00:00")));
  const office = { days: [1, 2, 3, 4, 5], from: "09:00", to: "17:00", timeZone: "UTC" };
  assert(scheduleActive(office, utc("2026-12-04T09:00:00")));
  assert(scheduleActive(office, utc("2026-12-04T16:59:00")));
  assert(!scheduleActive(office, utc("2026-12-04T17:00:00")));
  assert(!scheduleActive(office, utc("2026-12-04T08:59:00")));
  assert(!scheduleActive(office, utc("2026-12-05T12:00:00")), "Saturday is not chosen");
});

Deno.test("schedule: overnight belongs to the day it starts on; equal times are the whole day", () => {
  const nights = { days: [FRI], from: "18:00", to: "08:00", timeZone: "UTC" };
  assert(scheduleActive(nights, utc("2026-12-04T18:00:00")), "Friday evening");
  assert(scheduleActive(nights, utc("2026-12-05T07:59:00")), "Saturday morning after it");
  assert(!scheduleActive(nights, utc("2026-12-05T08:00:00")));
  assert(!scheduleActive(nights, utc("2026-12-05T18:00:00")), "Saturday evening: not chosen");
  assert(!scheduleActive(nights, utc("2026-12-04T07:00:00")), "Friday morning is Thursday's night");
  const weekend = { days: [SAT, SUN], from: "00:00", to: "00:00", timeZone: "UTC" };
  assert(scheduleActive(weekend, utc("2026-12-05T00:00:00")));
  assert(scheduleActive(weekend, utc("2026-12-06T23:59:00")));
  assert(!scheduleActive(weekend, utc("2026-12-07T00:00:00")));
});

Deno.test("schedule: wall-clock times in the zone, across a daylight-saving change", () => {
  const evening = {
    days: [0, 1, 2, 3, 4, 5, 6],
    from: "18:00",
    to: "19:00",
    timeZone: "Europe/Berlin",
  };
  // 17:30 UTC is 18:30 in Berlin in winter (UTC+1), 19:30 in summer (UTC+2, from 2026-03-29).
  assert(scheduleActive(evening, utc("2026-03-28T17:30:00")), "18:30 on the last winter day");
  assert(!scheduleActive(evening, utc("2026-03-29T17:30:00")), "19:30 on the first summer day");
  assert(scheduleActive(evening, utc("2026-03-29T16:30:00")), "18:30 on the first summer day");
  assertEquals(localTime(utc("2026-12-04T23:30:00"), "Asia/Tokyo"), {
    day: SAT,
    minutes: 8 * 60 + 30,
  });
});

Deno.test("schedule: in words; time zones known and not", () => {
  assertEquals(
    describeSchedule({ days: [5, 1], from: "18:00", to: "08:00", timeZone: "Europe/Berlin" }),
    "Mon, Fri 18:00–08:00 (Europe/Berlin)",
  );
  assertEquals(
    describeSchedule({ days: [0, 1, 2, 3, 4, 5, 6], from: "00:00", to: "00:00", timeZone: "UTC" }),
    "Every day all day (UTC)",
  );
  assert(isTimeZone("Europe/Berlin") && isTimeZone("UTC"));
  assert(!isTimeZone("Mars/Olympus") && !isTimeZone(""));
});
