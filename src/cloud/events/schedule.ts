/**
 * A webhook's active hours: the days and times, in a time zone, when its alerts go out — motion
 * alerts to the night guard from 18:00 to 08:00 while the shop is closed, all weekend, and not
 * the hundred a day while staff walk past the cameras. Outside them the events are still recorded
 * (the Events page has them) and nothing is queued for that webhook (producer.ts); "Send test"
 * is sent whenever it is asked for. A window that ends before it starts runs overnight and
 * belongs to the day it starts on (Friday 18:00–08:00 is Friday evening and Saturday morning);
 * equal times are the whole day. Times are wall-clock times in the zone, so a daylight-saving
 * change moves nothing.
 * @module
 */
import type { WebhookSchedule } from "../store/store.ts";

/** Day names, Sunday first (as `Date.getDay` numbers them). */
export const DAY_NAMES = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;

/** `HH:MM`, 00:00 to 23:59. */
export const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;

/** Whether `tz` is a time zone the runtime knows (`Europe/Berlin`, `UTC`). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The weekday (0 = Sunday) and minutes since midnight of `at` in `tz`. */
export function localTime(at: number, tz: string): { day: number; minutes: number } {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      weekday: "short",
      hour: "2-digit",
      minute: "2-digit",
      hourCycle: "h23",
    });
    formats.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(at).map((p) => [p.type, p.value]));
  return {
    day: DAY_NAMES.indexOf(parts.weekday as typeof DAY_NAMES[number]),
    minutes: Number(parts.hour) * 60 + Number(parts.minute),
  };
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether a webhook with schedule `s` (none: always) takes an event at `at`. */
export function scheduleActive(s: WebhookSchedule | null | undefined, at: number): boolean {
  if (!s) return true;
  const { day, minutes } = localTime(at, s.timeZone);
  const from = minutesOf(s.from);
  const to = minutesOf(s.to);
  if (from === to) return s.days.includes(day);
  if (from < to) return s.days.includes(day) && minutes >= from && minutes < to;
  // Overnight: the evening of a chosen day, or the morning after one.
  if (minutes >= from) return s.days.includes(day);
  if (minutes < to) return s.days.includes((day + 6) % 7);
  return false;
}

/** `Mon, Tue, Fri 18:00–08:00 (Europe/Berlin)`; every day reads `Every day`. */
export function describeSchedule(s: WebhookSchedule): string {
  const days = s.days.length === 7
    ? "Every day"
    : [...s.days].sort((a, b) => a - b).map((d) => DAY_NAMES[d]).join(", ");
  const hours = s.from === s.to ? "all day" : `${s.from}–${s.to}`;
  return `${days} ${hours} (${s.timeZone})`;
}
