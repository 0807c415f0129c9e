/**
 * `/api/account/tokens`: a user's own API tokens (`nt_…`). The token text is returned once on
 * creation and stored only as its SHA-256; the tenant is fixed to the creator's active tenant.
 * @module
 */
import { Hono } from "hono";
import { announceChange } from "../watcher.ts";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import { hashToken, mintToken } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";
import { type AuthVars, requireAuth, userIdOf } from "./middleware/auth.ts";
import { jsonBody, page } from "./validate.ts";
import { tokenBody } from "./schemas.ts";

const hashParam = z.string().regex(/^[0-9a-f]{64}$/);

/** The routes under /api/account/tokens. */
export function tokenRoutes(store: Store): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.use("*", requireAuth(store, "operator"));
  app.get("/", async (c) => {
    const p = c.get("principal");
    const items = await store.listApiTokens(p.tenantId, userIdOf(p));
    return c.json(page(
      c,
      items.map((t) => ({
        id: t.hash,
        name: t.name,
        createdAt: t.createdAt,
        lastUsedAt: t.lastUsedAt,
        revokedAt: t.revokedAt,
      })),
    ));
  });
  app.post("/", async (c) => {
    const p = c.get("principal");
    const { name } = await jsonBody(c, tokenBody);
    const token = mintToken("nt");
    const hash = await hashToken(token);
    await store.createApiToken({ hash, tenantId: p.tenantId, userId: userIdOf(p), name });
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "api_token.mint",
      target: hash.slice(0, 12),
      detail: { name },
    });
    return c.json(
      { id: hash, name, token, note: "Copy the token now: it is not shown again." },
      201,
    );
  });
  app.delete("/:id", async (c) => {
    const p = c.get("principal");
    const id = c.req.param("id");
    if (!hashParam.safeParse(id).success) throw new AppError("not_found", "no such token");
    const mine = (await store.listApiTokens(p.tenantId, userIdOf(p))).some((t) => t.hash === id);
    const revoked = mine && await store.revokeApiToken(p.tenantId, id);
    if (revoked) await announceChange(store);
    if (!revoked) {
      throw new AppError("not_found", "no such token");
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "api_token.revoke",
      target: id.slice(0, 12),
      detail: {},
    });
    return c.json({ revoked: id });
  });
  return app;
}
