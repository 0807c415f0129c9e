/**
 * `/api/events`: the tenant's inbox (issue 15 item 7) — a page of events newest first with the
 * unread count (of some types, about one site or one device), marking read (some, those of a
 * filter, or all; each user has their own read state, events/reader.ts), and
 * `GET /api/events/stream`, the server-sent event feed the console's unread badge and Events
 * page follow (events/stream.ts). Any signed-in role may read; tenant-scoped by the credential.
 * @module
 */
import { Hono } from "hono";
import type { Clock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { eventPayload } from "../events/producer.ts";
import { eventStream } from "../events/stream.ts";
import { eventReader } from "../events/reader.ts";
import { markMatchingRead } from "../events/matching.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody, query } from "./validate.ts";
import { eventsQuery, eventsReadBody, eventStreamQuery } from "./schemas.ts";

/**
 * Most events one "mark these read" marks (the filter's newest unread); `more` in the answer says
 * to ask again. Bounds the request's work: a filter over 90 days of a busy tenant's events.
 */
export const MARK_MATCHING_MAX = 10_000;

/** The routes under /api (events). */
export function eventRoutes(d: { store: Store; clock: Clock }): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const auth = requireAuth(d.store);
  app.get("/events", auth, async (c) => {
    const p = c.get("principal");
    const q = query(c, eventsQuery);
    const unreadOnly = q.unread === "1" || q.unread === "true";
    const reader = await eventReader(d.store, p);
    const items = await d.store.listEvents(p.tenantId, {
      reader,
      before: q.before,
      limit: q.limit,
      unread: unreadOnly,
      types: q.type,
      deviceId: q.device,
      siteId: q.site,
    });
    return c.json({
      items: items.map(eventPayload),
      next: items.length === q.limit ? items[items.length - 1].seq : null,
      unread: await d.store.countUnreadEvents(p.tenantId, reader),
    });
  });
  app.post("/events/read", auth, async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, eventsReadBody);
    const reader = await eventReader(d.store, p);
    const filtered = body.type !== undefined || body.site !== undefined ||
      body.device !== undefined;
    const { marked, more } = filtered
      ? await markMatchingRead(d.store, p.tenantId, {
        reader,
        types: body.type,
        siteId: body.site,
        deviceId: body.device,
      }, MARK_MATCHING_MAX)
      : {
        marked: await d.store.markEventsRead(p.tenantId, reader, body.seqs ?? "all"),
        more: false,
      };
    return c.json({ marked, more, unread: await d.store.countUnreadEvents(p.tenantId, reader) });
  });
  app.get("/events/stream", auth, (c) =>
    eventStream({
      store: d.store,
      principal: c.get("principal"),
      now: () => d.clock.now(),
      after: query(c, eventStreamQuery).after,
      signal: c.req.raw.signal,
    }));
  return app;
}
