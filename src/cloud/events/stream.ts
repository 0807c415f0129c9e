/**
 * The console's live inbox feed (issue 15 item 7): one server-sent event stream per open page,
 * `event: unread` (the reader's unread count, when it changes: events/reader.ts) and `event: event` (each new
 * event, oldest first; none skipped — a burst of more than {@linkcode MAX_EVENTS_PER_READ} in one
 * read is `event: gap` instead, and the page offers a reload). It reads the store (events after the last one sent), so events produced
 * on another node arrive the same way, within about a second. The stream ends when the
 * credential it was opened with is no longer valid.
 * @module
 */
import type { EventReader, Store, TenantEvent } from "../store/store.ts";
import type { Principal } from "../tenancy/auth.ts";
import { stillValid } from "../access/live.ts";
import { eventPayload } from "./producer.ts";
import { pollingSse } from "../api/sse.ts";
import { eventReader } from "./reader.ts";

/** Events read per query (the store's largest page). */
const PAGE = 500;
/** Most events one read sends one by one; a burst of more is one `gap` (the page reloads). */
export const MAX_EVENTS_PER_READ = 1_000;

/** What the stream needs. */
export interface EventStreamOptions {
  store: Store;
  principal: Principal;
  now: () => number;
  /** Ends the stream when the client goes away. */
  signal?: AbortSignal;
  /**
   * Resume after this event (the newest a page already shows, when its tab is shown again after
   * being hidden): the events since then are sent (or one `gap`). Without it, or past the newest
   * event, the feed starts at the newest.
   */
  after?: number;
  /** How often the store is read (default 1 s). */
  everyMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  keepaliveMs?: number;
}

/** The `text/event-stream` response. */
export function eventStream(o: EventStreamOptions): Response {
  const tenantId = o.principal.tenantId;
  let last = 0;
  let lastUnread = -1;
  let reader: EventReader | undefined;
  return pollingSse({
    signal: o.signal,
    everyMs: o.everyMs,
    keepaliveMs: o.keepaliveMs,
    // New events only: the page rendered the ones before (up to `after`, when it says).
    init: async () => {
      const newest = (await o.store.listEvents(tenantId, { limit: 1 }))[0]?.seq ?? 0;
      last = o.after === undefined ? newest : Math.min(o.after, newest);
    },
    step: async ({ send, stop, tick }) => {
      if (tick % 5 === 0 && !await stillValid(o.store, o.principal, o.now())) return stop();
      // Every event since the last one sent, oldest first (the store answers newest first, a
      // page at a time). Before, one read of the newest 100 skipped the rest of a burst (300
      // agents offline at once showed 100 on an open page). More than a page can usefully add
      // is one `gap` instead: the page offers a reload.
      const fresh: TenantEvent[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await o.store.listEvents(tenantId, { after: last, before, limit: PAGE });
        fresh.push(...page);
        if (page.length < PAGE || fresh.length >= MAX_EVENTS_PER_READ) break;
        before = page[page.length - 1].seq;
      }
      if (fresh.length >= MAX_EVENTS_PER_READ) {
        last = fresh[0].seq;
        send("gap", { atLeast: fresh.length, upTo: last });
      } else {
        for (const e of fresh.reverse()) {
          send("event", eventPayload(e));
          last = Math.max(last, e.seq);
        }
      }
      reader ??= await eventReader(o.store, o.principal);
      const unread = await o.store.countUnreadEvents(tenantId, reader);
      if (unread !== lastUnread) send("unread", { unread });
      lastUnread = unread;
    },
  });
}
