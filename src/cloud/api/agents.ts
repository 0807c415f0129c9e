/**
 * `/api/agents` (a tenant's agents with their presence: Relay node, active streams, last
 * heartbeat, today's traffic, certificate expiry and issuing CA), `/api/agents/{id}/stats?hours=24`
 * (hourly traffic for a sparkline), `/api/agents/{id}/daily?days=30` (daily totals the background
 * jobs roll up from the hourly rows) and `/api/audit` (the tenant's audit log, newest first,
 * paginated by `before`).
 * Revoking an agent cuts its control stream and tunnels on this node at once and tells the
 * other nodes.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";
import type { Clock } from "../../shared/clock.ts";
import { announceChange } from "../watcher.ts";
import { requireRole } from "../tenancy/roles.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody, query } from "./validate.ts";
import {
  agentDailyQuery,
  agentListQuery,
  agentPatch,
  agentStatsQuery,
  auditQuery,
} from "./schemas.ts";
import { dayOf } from "../store/rules.ts";
import { agentCertView } from "../agent_certs.ts";
import { presenceOf } from "../tenancy/agent_presence.ts";

/** The routes under /api (agents and audit). */
export function agentRoutes(
  d: {
    store: Store;
    clock: Clock;
    kick: (agentId: string, reason: string) => void;
    /** Pin of the current agent CA (to say which CA issued each certificate). */
    agentCaPin: () => string;
  },
): Hono<AuthVars> {
  const { store } = d;
  const app = new Hono<AuthVars>();
  const auth = requireAuth(store);
  app.get("/agents", auth, async (c) => {
    const p = c.get("principal");
    const items = [];
    // One page read in the store, with its presence and totals in one query each: a tenant of
    // thousands of agents is never read whole for one page.
    const { limit, cursor, q } = query(c, agentListQuery);
    const r = await store.queryAgents(p.tenantId, { search: q, offset: cursor, limit });
    const presence = await presenceOf(store, r.agents);
    const totals = r.agents.length ? await store.getAgentCountersOf(r.agents.map((a) => a.id)) : [];
    const counters = new Map(totals.map((t) => [t.agentId, t]));
    for (const a of r.agents) {
      const pr = presence.get(a.id) ?? null;
      const today = counters.get(a.id) ?? null;
      items.push({
        ...a,
        online: pr !== null,
        relay: pr?.node ?? null,
        activeStreams: pr?.activeStreams ?? 0,
        // Kept once the agent is offline: its last recorded heartbeat.
        lastHeartbeat: pr?.lastHeartbeat ?? today?.at ?? null,
        // Online, but its data connections cannot open (no tunnel reaches the site): why.
        dataBlocked: pr?.dataBlocked || null,
        certificate: agentCertView(a, d.agentCaPin()),
        // Live: streams from presence; today's (UTC) totals from the last heartbeat.
        stats: {
          day: today?.day ?? null,
          bytesUp: today?.bytesUp ?? 0,
          bytesDown: today?.bytesDown ?? 0,
          tunnelsOpened: today?.tunnels ?? 0,
          activeStreams: pr?.activeStreams ?? 0,
        },
      });
    }
    const next = cursor + r.agents.length < r.total ? cursor + r.agents.length : null;
    return c.json({ items, next, total: r.total });
  });
  /** The caller's tenant's agent named in the path, or 404. */
  const ownAgent = async (tenantId: string, id: string) => {
    const agent = await store.getAgent(id);
    if (!agent || agent.tenantId !== tenantId) throw new AppError("not_found", "no such agent");
    return agent;
  };
  app.get("/agents/:id/stats", auth, async (c) => {
    const p = c.get("principal");
    const { hours } = query(c, agentStatsQuery);
    const agent = await ownAgent(p.tenantId, c.req.param("id"));
    const HOUR = 3_600_000;
    const now = d.clock.now();
    const since = now - (now % HOUR) - (hours - 1) * HOUR;
    const rows = await store.listAgentHourlyStats(p.tenantId, agent.id, since);
    const byHour = new Map(rows.map((r) => [r.hour, r]));
    // One entry per hour, oldest first, zeros where nothing moved: ready for a sparkline.
    const items = Array.from({ length: hours }, (_, i) => {
      const hour = since + i * HOUR;
      const r = byHour.get(hour);
      return {
        hour: new Date(hour).toISOString(),
        bytesUp: r?.bytesUp ?? 0,
        bytesDown: r?.bytesDown ?? 0,
        tunnels: r?.tunnels ?? 0,
      };
    });
    return c.json({ agentId: agent.id, hours: items });
  });
  app.patch("/agents/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const id = c.req.param("id");
    const { name } = await jsonBody(c, agentPatch);
    const before = await store.getAgent(id);
    if (
      !before || before.tenantId !== p.tenantId || !await store.renameAgent(p.tenantId, id, name)
    ) {
      throw new AppError("not_found", "no such agent");
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "agent.rename",
      target: id,
      detail: { from: before.label || before.hostname, to: name },
    });
    return c.json({ ...before, label: name });
  });
  app.get("/agents/:id/daily", auth, async (c) => {
    const p = c.get("principal");
    const { days } = query(c, agentDailyQuery);
    const agent = await ownAgent(p.tenantId, c.req.param("id"));
    const DAY = 86_400_000;
    const now = d.clock.now();
    const first = now - (now % DAY) - (days - 1) * DAY;
    const rows = await store.listAgentDailyStats(p.tenantId, agent.id, dayOf(first));
    const byDay = new Map(rows.map((r) => [r.day, r]));
    // One entry per UTC day, oldest first, zeros where nothing was rolled up.
    const items = Array.from({ length: days }, (_, i) => {
      const day = dayOf(first + i * DAY);
      const r = byDay.get(day);
      return {
        day,
        bytesUp: r?.bytesUp ?? 0,
        bytesDown: r?.bytesDown ?? 0,
        tunnels: r?.tunnels ?? 0,
      };
    });
    return c.json({ agentId: agent.id, days: items });
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
