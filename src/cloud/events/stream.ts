/**
 * The console's live inbox feed (issue 15 item 7): one server-sent event stream per open page,
 * `event: unread` (the tenant's unread count, when it changes) and `event: event` (each new
 * event, oldest first). It reads the store (events after the last one sent), so events produced
 * on another node arrive the same way, within about a second. The stream ends when the
 * credential it was opened with is no longer valid.
 * @module
 */
import type { Store } from "../store/store.ts";
import type { Principal } from "../tenancy/auth.ts";
import { stillValid } from "../access/live.ts";
import { eventPayload } from "./producer.ts";
import { pollingSse } from "../api/sse.ts";

/** What the stream needs. */
export interface EventStreamOptions {
  store: Store;
  principal: Principal;
  now: () => number;
  /** Ends the stream when the client goes away. */
  signal?: AbortSignal;
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
  return pollingSse({
    signal: o.signal,
    everyMs: o.everyMs,
    keepaliveMs: o.keepaliveMs,
    // New events only: the page rendered the ones before.
    init: async () => {
      last = (await o.store.listEvents(tenantId, { limit: 1 }))[0]?.seq ?? 0;
    },
    step: async ({ send, stop, tick }) => {
      if (tick % 5 === 0 && !await stillValid(o.store, o.principal, o.now())) return stop();
      const fresh = await o.store.listEvents(tenantId, { after: last, limit: 100 });
      for (const e of fresh.reverse()) {
        send("event", eventPayload(e));
        last = Math.max(last, e.seq);
      }
      const unread = await o.store.countUnreadEvents(tenantId);
      if (unread !== lastUnread) send("unread", { unread });
      lastUnread = unread;
    },
  });
}
