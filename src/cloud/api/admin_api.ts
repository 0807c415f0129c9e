/**
 * The admin API for the external licensing application (guide §3, §8), behind
 * `X-Admin-Api-Key` only: `POST /api/admin/tenants` onboards a tenant with its first license,
 * `POST /api/admin/tenants/{tenantId}/licenses` rotates (adds) one, `DELETE
 * /api/admin/tenants/{tenantId}/licenses/{licenseId}` revokes one. License GUIDs are stored only
 * as hashes; the cloud's own API lists them read-only (`GET /api/licenses`).
 * @module
 */
import { Hono } from "hono";
import { announceChange } from "../watcher.ts";
import { AppError } from "../../shared/errors.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";
import type { AuthContext } from "../tenancy/auth.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody, page } from "./validate.ts";
import { licenseBody, onboardBody } from "./schemas.ts";

/** The routes under /api/admin (admin key) and /api/licenses (read-only, signed in). */
export function adminRoutes(
  d: { store: Store; authContext?: () => Omit<AuthContext, "remote"> },
): Hono<AuthVars> {
  const { store } = d;
  const app = new Hono<AuthVars>();
  const adminKey = requireAuth(store, "superadmin", {
    kinds: ["admin_key"],
    context: d.authContext,
  });

  const addLicense = async (tenantId: string, license: string) => {
    const hash = await hashToken(license);
    if (await store.getLicenseByHash(hash)) {
      throw new AppError("conflict", "this license is already registered");
    }
    const l = await store.createLicense({ tenantId, hash });
    await store.appendAudit({
      tenantId,
      actor: "admin-key",
      action: "license.register",
      target: l.id,
      detail: {},
    });
    return { id: l.id, tenantId, createdAt: l.createdAt };
  };

  app.post("/admin/tenants", adminKey, async (c) => {
    const body = await jsonBody(c, onboardBody);
    if (await store.getLicenseByHash(await hashToken(body.license))) {
      throw new AppError("conflict", "this license is already registered");
    }
    const t = await store.createTenant({ name: body.name });
    await store.appendAudit({
      tenantId: t.id,
      actor: "admin-key",
      action: "tenant.create",
      target: t.id,
      detail: { name: t.name },
    });
    return c.json(
      { tenantId: t.id, name: t.name, license: await addLicense(t.id, body.license) },
      201,
    );
  });
  app.post("/admin/tenants/:tenantId/licenses", adminKey, async (c) => {
    const t = await store.getTenant(c.req.param("tenantId"));
    if (!t) throw new AppError("not_found", "no such tenant");
    const body = await jsonBody(c, licenseBody);
    return c.json(await addLicense(t.id, body.license), 201);
  });
  app.delete("/admin/tenants/:tenantId/licenses/:licenseId", adminKey, async (c) => {
    const tenantId = c.req.param("tenantId");
    const id = c.req.param("licenseId");
    const revoked = await store.revokeLicense(tenantId, id);
    if (revoked) await announceChange(store);
    if (!revoked) {
      throw new AppError("not_found", "no such active license");
    }
    await store.appendAudit({
      tenantId,
      actor: "admin-key",
      action: "license.revoke",
      target: id,
      detail: {},
    });
    return c.json({ revoked: id });
  });
  app.get("/licenses", requireAuth(store, "admin"), async (c) => {
    const items = (await store.listLicenses(c.get("principal").tenantId)).map((
      { hash: _h, ...l },
    ) => l);
    return c.json(page(c, items));
  });
  return app;
}
