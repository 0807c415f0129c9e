/**
 * The browser terminal's API: the tenant's terminal policy (limits, idle timeout, maximum
 * length, input recording, retention), a device port's pinned SSH host key and the admin's
 * "accept the new key", and the session recordings (admins see the tenant's, everyone else
 * their own). The terminal itself is the WebSocket `/api/terminal/{handle}` (access/terminal/).
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Store, TerminalRecording } from "../store/store.ts";
import { requireRole, roleAtLeast } from "../tenancy/roles.ts";
import type { Principal } from "../tenancy/auth.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { acceptHostKeyBody } from "./schemas.ts";
import {
  applyPolicyChange,
  policyView,
  terminalPolicy,
  terminalPolicyBody,
} from "../access/terminal/policy.ts";
import { acceptOfferedKey } from "../access/terminal/host_key.ts";

/** What the routes need. */
export interface TerminalApiDeps {
  store: Store;
  clock: Clock;
}

/** Whether a principal may see a recording: admins all of the tenant's, others their own. */
export function maySeeRecording(
  p: Principal,
  rec: Pick<TerminalRecording, "tenantId" | "actor">,
): boolean {
  return rec.tenantId === p.tenantId && (roleAtLeast(p.role, "admin") || rec.actor === p.actor);
}

/** The routes under /api. */
export function terminalApiRoutes(d: TerminalApiDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const auth = requireAuth(d.store);
  const port = async (p: Principal, deviceId: string, portText: string) => {
    const dev = await d.store.getDevice(p.tenantId, deviceId);
    const n = Number(portText);
    if (!dev || !Number.isInteger(n) || !dev.ports.includes(n)) {
      throw new AppError("not_found", "no such device port");
    }
    return { dev, port: n };
  };

  app.get("/terminal/policy", auth, async (c) => {
    return c.json(policyView(await terminalPolicy(d.store, c.get("principal").tenantId)));
  });
  app.put("/terminal/policy", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const change = await jsonBody(c, terminalPolicyBody);
    const next = applyPolicyChange(await terminalPolicy(d.store, p.tenantId), change);
    await d.store.putTerminalPolicy(p.tenantId, next);
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "terminal.policy.set",
      target: p.tenantId,
      detail: policyView(next),
    });
    return c.json(policyView(next));
  });

  app.get("/devices/:id/ports/:port/host-key", auth, async (c) => {
    const p = c.get("principal");
    const { dev, port: n } = await port(p, c.req.param("id"), c.req.param("port"));
    const pin = await d.store.getSshHostKey(p.tenantId, dev.id, n);
    return c.json({
      deviceId: dev.id,
      port: n,
      pinned: pin
        ? { algorithm: pin.algorithm, fingerprint: pin.fingerprint, at: pin.pinnedAt }
        : null,
      offered: pin?.offeredFingerprint
        ? {
          algorithm: pin.offeredAlgorithm,
          fingerprint: pin.offeredFingerprint,
          at: pin.offeredAt,
        }
        : null,
    });
  });
  app.post("/devices/:id/ports/:port/host-key/accept", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const { dev, port: n } = await port(p, c.req.param("id"), c.req.param("port"));
    const body = await jsonBody(c, acceptHostKeyBody);
    const pin = await acceptOfferedKey(d.store, {
      tenantId: p.tenantId,
      deviceId: dev.id,
      port: n,
      actor: p.actor,
      now: d.clock.now(),
    }, body.fingerprint);
    return c.json({
      deviceId: dev.id,
      port: n,
      pinned: { algorithm: pin.algorithm, fingerprint: pin.fingerprint, at: pin.pinnedAt },
      offered: null,
    });
  });

  app.get("/recordings", auth, async (c) => {
    const p = c.get("principal");
    const deviceId = c.req.query("deviceId") || undefined;
    const rows = await d.store.listRecordings(p.tenantId, { deviceId, limit: 500 });
    return c.json({ recordings: rows.filter((r) => maySeeRecording(p, r)) });
  });
  app.get("/recordings/:id", auth, async (c) => {
    const p = c.get("principal");
    const rec = await d.store.getRecording(p.tenantId, c.req.param("id"));
    if (!rec || !maySeeRecording(p, rec)) throw new AppError("not_found", "no such recording");
    return c.body(rec.cast, 200, {
      "content-type": "application/x-asciicast; charset=utf-8",
      "content-disposition": `attachment; filename="${rec.id}.cast"`,
      "cache-control": "no-store",
    });
  });
  return app;
}
