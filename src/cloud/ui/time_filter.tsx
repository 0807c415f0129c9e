/**
 * A from/to time filter of the console (the audit log's, the events export's): an input the
 * viewer fills in their own time zone, and the query parameter it becomes. The page renders UTC;
 * app.js shows it in local time and, on submit, sends the local time as a UTC ISO instant
 * (`input[data-utc]`). With JavaScript off the value is read as UTC.
 * @module
 */
import { z } from "zod";

/**
 * A filter time: with a zone as given; without one (a `datetime-local` value sent with
 * JavaScript off) in UTC; a bare date is that day's UTC midnight. NaN when it is not a time.
 */
export function parseUtc(s: string): number {
  return Date.parse(/(?:[zZ]|[+-]\d\d:?\d\d)$/.test(s) || !s.includes("T") ? s : `${s}Z`);
}

/** A query parameter holding a filter time: ms since the epoch, or undefined when empty. */
export function filterTime(name: string) {
  return z.string().max(40).optional().transform((s) => (s ? parseUtc(s) : undefined))
    .refine((n) => n === undefined || Number.isFinite(n), `${name}: expected a date`);
}

/** A from/to input: rendered in UTC, shown and sent in the viewer's time zone by app.js. */
export function TimeFilter(
  props: { name: string; label: string; at: number | undefined; idPrefix?: string },
) {
  const id = `${props.idPrefix ?? "f"}-${props.name}`;
  return (
    <div>
      <label for={id}>{props.label}</label>
      <input
        id={id}
        name={props.name}
        type="datetime-local"
        value={props.at === undefined ? "" : new Date(props.at).toISOString().slice(0, 16)}
        data-utc
      />
    </div>
  );
}
