/**
 * `GET /api/event-snapshots/{id}.jpg`: the camera's picture taken when it raised a
 * `camera.motion`, `camera.tamper` or `camera.input` event (its `detail.snapshot`, `snapshotUrl`).
 * An operator who reads the alert later sees what moved, not what the camera sees now. Pictures
 * belong to the tenant and the site of their camera: another tenant's id, or a site outside a CLI
 * session's scope, is as unknown as one never taken. The store keeps a few per camera, a week.
 * The event's `snapshotUrl` also works without signing in, for a day (events/picture_links.ts):
 * what a webhook receiver passes on to a chat or a ticket.
 * @module
 */
import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import {
  type EventSnapshot,
  SNAPSHOT_KEEP_MS,
  SNAPSHOTS_PER_DEVICE,
  type Store,
} from "../store/store.ts";
import type { PictureLinks } from "../events/picture_links.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** Said for an id that names no picture this caller may see. */
export const NO_PICTURE = `no such picture (the cloud keeps the newest ${SNAPSHOTS_PER_DEVICE} ` +
  `per camera, for ${SNAPSHOT_KEEP_MS / 86_400_000} days)`;

/** Said for a picture link that is altered or past its day. */
export const BAD_PICTURE_LINK =
  "this picture link is not valid: it expired (links work for a day) or it was altered; the " +
  "picture is in the cloud's Events page";

/** A picture link's query (events/picture_links.ts). */
const linkQuery = z.object({
  t: z.string().min(1).max(64),
  exp: z.string().max(12),
  sig: z.string().min(1).max(128),
});

/** What the route needs. */
export interface EventSnapshotDeps {
  store: Store;
  clock: Clock;
  /** Verifies picture links (absent: only signed-in callers). */
  links?: PictureLinks;
}

/** The routes under /api. */
export function eventSnapshotRoutes(d: EventSnapshotDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const auth = requireAuth(d.store);
  const idOf = (file: string) => /^([A-Za-z0-9-]{1,64})\.jpg$/.exec(file)?.[1];
  const jpeg = (snap: EventSnapshot) =>
    new Response(snap.jpeg.slice().buffer, {
      headers: {
        "content-type": "image/jpeg",
        // A picture never changes; the browser may keep it (private: it is the tenant's).
        "cache-control": "private, max-age=86400, immutable",
      },
    });
  app.get("/event-snapshots/:file", async (c, next) => {
    if (c.req.query("sig") === undefined) return await auth(c, next);
    // A picture link: the signature opens this one picture, nothing else.
    const q = linkQuery.safeParse(c.req.query());
    const id = idOf(c.req.param("file"));
    if (!q.success || !id || !d.links || !(await d.links.verify(id, q.data, d.clock.now()))) {
      throw new AppError("forbidden", BAD_PICTURE_LINK);
    }
    const snap = await d.store.getEventSnapshot(q.data.t, id);
    if (!snap) throw new AppError("not_found", NO_PICTURE);
    return jpeg(snap);
  }, async (c) => {
    const p = c.get("principal");
    const id = idOf(c.req.param("file"));
    const snap = id ? await d.store.getEventSnapshot(p.tenantId, id) : null;
    if (!snap || (p.siteIds && !p.siteIds.includes(snap.siteId))) {
      throw new AppError("not_found", NO_PICTURE);
    }
    return jpeg(snap);
  });
  return app;
}
