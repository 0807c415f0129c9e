/**
 * `GET /api/event-snapshots/{id}.jpg`: the camera's picture taken when it raised a
 * `camera.motion`, `camera.tamper` or `camera.input` event (its `detail.snapshot`, `snapshotUrl`).
 * An operator who reads the alert later sees what moved, not what the camera sees now. Pictures
 * belong to the tenant and the site of their camera: another tenant's id, or a site outside a CLI
 * session's scope, is as unknown as one never taken. The store keeps a few per camera, a week.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import { SNAPSHOT_KEEP_MS, SNAPSHOTS_PER_DEVICE, type Store } from "../store/store.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** Said for an id that names no picture this caller may see. */
export const NO_PICTURE = `no such picture (the cloud keeps the newest ${SNAPSHOTS_PER_DEVICE} ` +
  `per camera, for ${SNAPSHOT_KEEP_MS / 86_400_000} days)`;

/** The routes under /api. */
export function eventSnapshotRoutes(store: Store): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.get("/event-snapshots/:file", requireAuth(store), async (c) => {
    const p = c.get("principal");
    const id = /^([A-Za-z0-9-]{1,64})\.jpg$/.exec(c.req.param("file"))?.[1];
    const snap = id ? await store.getEventSnapshot(p.tenantId, id) : null;
    if (!snap || (p.siteIds && !p.siteIds.includes(snap.siteId))) {
      throw new AppError("not_found", NO_PICTURE);
    }
    return c.body(snap.jpeg.slice().buffer, 200, {
      "content-type": "image/jpeg",
      // A picture never changes; the browser may keep it (private: it is the tenant's).
      "cache-control": "private, max-age=86400, immutable",
    });
  });
  return app;
}
