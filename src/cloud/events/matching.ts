/**
 * Every event a filter matches, newest first, a page of the store's largest size at a time, up to
 * a bound: what an export (`/events.csv`) holds and what "Mark these read" on a filtered Events
 * page marks. One walk for both, so both read the same events the page shows.
 * @module
 */
import type { EventQuery, Store, TenantEvent } from "../store/store.ts";

/** The store's largest page (EventQuery.limit). */
export const EVENT_PAGE_MAX = 500;

/** The filter of a walk: an EventQuery without its paging. */
export type EventFilter = Omit<EventQuery, "before" | "after" | "limit">;

/**
 * Yields the events `q` matches, newest first, in pages of up to EVENT_PAGE_MAX, until `max`
 * were yielded or there are no more. Each page is read after the previous one was consumed, so a
 * caller may change the events it was given (mark them read) before the next is read.
 */
export async function* eventsMatching(
  store: Store,
  tenantId: string,
  q: EventFilter,
  max: number,
): AsyncGenerator<TenantEvent[]> {
  let before: number | undefined;
  let left = max;
  while (left > 0) {
    const page = await store.listEvents(tenantId, { ...q, before, limit: EVENT_PAGE_MAX });
    const mine = page.slice(0, left);
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
