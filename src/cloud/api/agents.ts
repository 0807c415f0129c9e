/**
 * `/api/agents` (a tenant's agents with their presence: Relay node, active streams, last
 * heartbeat) and `/api/audit` (the tenant's audit log, newest first, paginated by `before`).
 * Revoking an agent cuts its control stream and tunnels on this node at once and tells the
 * other nodes.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";
import { announceChange } from "../watcher.ts";
import { requireRole } from "../tenancy/roles.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { page, query } from "./validate.ts";
import { auditQuery } from "./schemas.ts";

/** The routes under /api (agents and audit). */
export function agentRoutes(
  d: { store: Store; kick: (agentId: string, reason: string) => void },
): Hono<AuthVars> {
  const { store } = d;
  const app = new Hono<AuthVars>();
  const auth = requireAuth(store);
  app.get("/agents", auth, async (c) => {
    const p = c.get("principal");
    const items = [];
    for (const a of await store.listAgents(p.tenantId)) {
      const pr = await store.getPresence(a.id);
      items.push({
        ...a,
        online: pr !== null,
        relay: pr?.node ?? null,
        activeStreams: pr?.activeStreams ?? 0,
        lastHeartbeat: pr?.lastHeartbeat ?? null,
      });
    }
    return c.json(page(c, items));
  });
  app.post("/agents/:id/revoke", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const id = c.req.param("id");
    if (!await store.revokeAgent(p.tenantId, id)) {
      throw new AppError("not_found", "no such active agent");
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "agent.revoke",
      target: id,
      detail: {},
    });
    d.kick(id, "agent revoked");
    await announceChange(store);
    return c.json({ revoked: id });
  });
  app.get("/audit", auth, async (c) => {
    const p = c.get("principal");
    const { all, ...q } = query(c, auditQuery);
    if (all) requireRole(p.role, "superadmin");
    const items = await store.listAudit({ ...(all ? {} : { tenantId: p.tenantId }), ...q });
    const last = items.at(-1);
    return c.json({ items, next: items.length === q.limit && last ? last.seq : null });
  });
  return app;
}
