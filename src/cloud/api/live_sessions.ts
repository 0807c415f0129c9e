/**
 * `/api/live` (admins): who has which tunnel, RTSP session or proxied stream open right now on
 * this cloud node, since when, and a way to end one ("terminated by an admin", audited). Each
 * node knows its own connections; behind a load balancer the list is the answering node's.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";
import type { LiveAccess, LiveRow } from "../access/live.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** A live connection with the names an operator recognizes. */
export async function namedLive(store: Store, tenantId: string, rows: LiveRow[]) {
  const out = [];
  for (const r of rows) {
    const h = await store.getHandle(r.handleId);
    const dev = h && h.tenantId === tenantId ? await store.getDevice(tenantId, h.deviceId) : null;
    const user = r.userId ? await store.getUser(r.userId) : null;
    out.push({
      ...r,
      who: user?.email ?? r.actor,
      device: dev ? `${dev.label || dev.host}:${h!.port}` : r.handleId,
    });
  }
  return out;
}

/** The routes under /api (live sessions). */
export function liveRoutes(d: { store: Store; live?: LiveAccess }): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const admin = requireAuth(d.store, "admin");
  app.get("/live", admin, async (c) => {
    const p = c.get("principal");
    return c.json({ items: await namedLive(d.store, p.tenantId, d.live?.list(p.tenantId) ?? []) });
  });
  app.delete("/live/:id", admin, async (c) => {
    const p = c.get("principal");
    const ended = d.live?.terminate(p.tenantId, c.req.param("id").slice(0, 64)) ?? null;
    if (!ended) throw new AppError("not_found", "no such live session on this node");
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "live.terminate",
      target: ended.handleId,
      detail: { kind: ended.kind, of: ended.actor, since: ended.startedAt },
    });
    return c.json({ terminated: ended.id });
  });
  return app;
}
