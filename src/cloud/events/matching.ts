/**
 * Every event a filter matches, newest first, a page of the store's largest size at a time, up to
 * a bound: what an export (`/events.csv`, of a time range too) holds and what "Mark these read" on
 * a filtered Events page marks. One walk for both, so both read the same events the page shows.
 * @module
 */
import type { EventQuery, Store, TenantEvent } from "../store/store.ts";

/** The store's largest page (EventQuery.limit). */
export const EVENT_PAGE_MAX = 500;

/**
 * The filter of a walk: an EventQuery without its paging, and a time range (`from` ≤ at ≤ `to`,
 * ms since the epoch; either may be absent).
 */
export type EventFilter = Omit<EventQuery, "before" | "after" | "limit"> & {
  from?: number;
  to?: number;
};

/**
 * Where a time splits the tenant's events, as a seq: its events up to it happened before `at`,
 * and its next one did not (0 when none is that old). Events are numbered as they are stored, so
 * their times grow with their seqs, and a binary search over seqs (a lookup of one event by the
 * store's seq index per step, one step per bit of the newest seq) finds where a time range
 * starts without reading the events after it.
 */
export async function seqBefore(store: Store, tenantId: string, at: number): Promise<number> {
  const [newest] = await store.listEvents(tenantId, { limit: 1 });
  if (!newest || newest.at < at) return newest?.seq ?? 0;
  // Every event up to lo happened before `at`; the event at hi (and after) did not.
  let lo = 0;
  let hi = newest.seq;
  while (lo + 1 < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const [e] = await store.listEvents(tenantId, { before: mid + 1, limit: 1 });
    // None at or below mid, or the newest of them is older: so is everything up to mid.
    if (!e || e.at < at) lo = mid;
    else hi = e.seq;
  }
  return lo;
}

/**
 * Yields the events `q` matches, newest first, in pages of up to EVENT_PAGE_MAX, until `max`
 * were yielded or there are no more. Each page is read after the previous one was consumed, so a
 * caller may change the events it was given (mark them read) before the next is read.
 */
export async function* eventsMatching(
  store: Store,
  tenantId: string,
  f: EventFilter,
  max: number,
): AsyncGenerator<TenantEvent[]> {
  const { from, to, ...q } = f;
  // The seqs the time range spans (found by time; each event's own time is checked as well, for
  // events stored out of order by nodes whose clocks differ).
  const after = from === undefined ? undefined : await seqBefore(store, tenantId, from);
  let before = to === undefined ? undefined : (await seqBefore(store, tenantId, to + 1)) + 1;
  const inRange = (e: TenantEvent) =>
    (from === undefined || e.at >= from) && (to === undefined || e.at <= to);
  let left = max;
  while (left > 0) {
    const page = await store.listEvents(tenantId, { ...q, before, after, limit: EVENT_PAGE_MAX });
    const mine = page.filter(inRange).slice(0, left);
    if (mine.length) yield mine;
    left -= mine.length;
    if (page.length < EVENT_PAGE_MAX) return;
    before = page[page.length - 1].seq;
  }
}

/** The result of marking a filter's unread events read. */
export interface MarkedRead {
  /** Events marked read now. */
  marked: number;
  /** Whether unread events of the filter may be left: the bound was reached. */
  more: boolean;
}

/**
 * Marks read, for `q.reader`, the unread events `q` matches, newest first, at most `max` (each
 * page as it is read). An event arriving meanwhile stays unread.
 */
export async function markMatchingRead(
  store: Store,
  tenantId: string,
  q: EventFilter & { reader: NonNullable<EventQuery["reader"]> },
  max: number,
): Promise<MarkedRead> {
  let marked = 0;
  let seen = 0;
  for await (const page of eventsMatching(store, tenantId, { ...q, unread: true }, max)) {
    seen += page.length;
    marked += await store.markEventsRead(tenantId, q.reader, page.map((e) => e.seq));
  }
  return { marked, more: seen >= max };
}
