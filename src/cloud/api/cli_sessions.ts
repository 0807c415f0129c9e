/**
 * CLI sessions (`ops_…`) and the partner keys (`nk_…`) that mint them (guide §7, §8).
 *
 * - `POST /api/cli/sessions` `{siteIds}` (operator, signed in or nt_): a session for yourself,
 *   shown once with the ready command; `GET /api/sites/{id}/cli-sessions` lists a site's active
 *   sessions; `DELETE /api/cli/sessions/{id}` revokes (the running CLI fails its next request).
 * - `POST /api/api-keys` `{name, allowed_cidr?}` (admin): a partner key, shown once;
 *   `GET /api/api-keys`; `DELETE /api/api-keys/{id}` revokes it and every session it issued.
 * - `POST /api/v1/sessions` with `X-API-Key: nk_…` `{external_operator_id, operator_display_name,
 *   sites?}` → a fresh `ops_…` with its expiry and hard cap; `GET /api/v1/sessions`;
 *   `DELETE /api/v1/sessions/{tokenHash}`.
 * Sessions slide 30 days on each successful connect and never outlive 180 days from issue.
 * @module
 */
import { Hono } from "hono";
import { announceChange } from "../watcher.ts";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import { hashToken, mintToken } from "../../shared/crypto/token.ts";
import type { Clock } from "../../shared/clock.ts";
import type { CliSession, Store } from "../store/store.ts";
import type { AuthContext, Principal } from "../tenancy/auth.ts";
import { requireRole } from "../tenancy/roles.ts";
import { type AuthVars, requireAuth, userIdOf } from "./middleware/auth.ts";
import { jsonBody, page } from "./validate.ts";
import { apiKeyBody, cliSessionBody, partnerSessionBody } from "./schemas.ts";

/** Initial lifetime and slide of a CLI session. */
export const CLI_SESSION_SLIDE_MS = 30 * 86_400_000;
/** Hard cap of a CLI session from its issue. */
export const CLI_SESSION_CAP_MS = 180 * 86_400_000;

const hashParam = z.string().regex(/^[0-9a-f]{64}$/);

function view(s: CliSession) {
  return {
    id: s.hash,
    operator: s.operator,
    externalOperatorId: s.externalOperatorId,
    siteIds: s.siteIds,
    issuer: s.issuer,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    hardCapAt: s.hardCapAt,
    lastUsedAt: s.lastUsedAt,
    revokedAt: s.revokedAt,
  };
}

/** What the routes need. */
export interface CliSessionDeps {
  store: Store;
  clock: Clock;
  publicUrl: () => string;
  authContext?: () => Omit<AuthContext, "remote">;
}

/** The routes under /api. */
export function cliSessionRoutes(d: CliSessionDeps): Hono<AuthVars> {
  const { store, clock } = d;
  const app = new Hono<AuthVars>();
  const user = requireAuth(store, "operator");
  const admin = requireAuth(store, "admin");
  const partner = requireAuth(store, "operator", { kinds: ["api_key"], context: d.authContext });

  const checkSites = async (tenantId: string, ids: string[]) => {
    const all = ids.length ? ids : (await store.listSites(tenantId)).map((s) => s.id);
    for (const id of all) {
      if (!await store.getSite(tenantId, id)) {
        throw new AppError("not_found", "no such site in your tenant");
      }
    }
    if (!all.length) throw new AppError("bad_request", "the tenant has no sites yet");
    return [...new Set(all)];
  };
  const mint = async (
    p: Principal,
    input: Pick<CliSession, "siteIds" | "operator" | "externalOperatorId" | "issuer" | "issuerRef">,
  ) => {
    const token = mintToken("ops");
    const now = clock.now();
    const s = await store.createCliSession({
      ...input,
      hash: await hashToken(token),
      tenantId: p.tenantId,
      expiresAt: now + CLI_SESSION_SLIDE_MS,
      hardCapAt: now + CLI_SESSION_CAP_MS,
    });
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "cli_session.mint",
      target: s.hash.slice(0, 12),
      detail: { sites: s.siteIds, operator: s.operator, externalOperatorId: s.externalOperatorId },
    });
    return {
      ...view(s),
      token,
      // The token goes through standard input (echo is a shell builtin in sh, cmd and
      // PowerShell), never onto nanodems-tunnel's command line, which every local user can read.
      command: `echo ${token} | nanodems-tunnel run --cloud ${d.publicUrl()} --token -`,
      note: "Copy the token now: it is not shown again.",
    };
  };
  const revoke = async (p: Principal, id: string) => {
    if (!hashParam.safeParse(id).success || !await store.revokeCliSession(p.tenantId, id)) {
      throw new AppError("not_found", "no such active CLI session");
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "cli_session.revoke",
      target: id.slice(0, 12),
      detail: {},
    });
    await announceChange(store);
    return { revoked: id };
  };

  // Signed-in operators.
  app.post("/cli/sessions", user, async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, cliSessionBody);
    const u = await store.getUser(userIdOf(p));
    return c.json(
      await mint(p, {
        siteIds: await checkSites(p.tenantId, body.siteIds),
        operator: u?.email ?? userIdOf(p),
        externalOperatorId: null,
        issuer: "user",
        issuerRef: userIdOf(p),
      }),
      201,
    );
  });
  app.get("/sites/:id/cli-sessions", requireAuth(store), async (c) => {
    const p = c.get("principal");
    const site = await store.getSite(p.tenantId, c.req.param("id"));
    if (!site) throw new AppError("not_found", "no such site");
    const now = clock.now();
    const items = (await store.listCliSessions(p.tenantId, { siteId: site.id }))
      .filter((s) => s.revokedAt === null && s.expiresAt > now).map(view);
    return c.json(page(c, items));
  });
  app.delete("/cli/sessions/:id", user, async (c) => {
    const p = c.get("principal");
    const id = c.req.param("id");
    const s = hashParam.safeParse(id).success ? await store.getCliSession(id) : null;
    // Operators revoke their own; admins any in the tenant.
    if (s && s.issuerRef !== p.userId) requireRole(p.role, "admin");
    return c.json(await revoke(p, id));
  });

  // Partner keys, managed by tenant admins.
  app.post("/api-keys", admin, async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, apiKeyBody);
    const key = mintToken("nk");
    const k = await store.createApiKey({
      tenantId: p.tenantId,
      hash: await hashToken(key),
      name: body.name,
      allowedCidr: body.allowed_cidr ?? null,
    });
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "api_key.mint",
      target: k.id,
      detail: { name: k.name, allowedCidr: k.allowedCidr },
    });
    return c.json({
      id: k.id,
      name: k.name,
      allowedCidr: k.allowedCidr,
      key,
      note: "Copy the key now: it is not shown again.",
    }, 201);
  });
  app.get("/api-keys", admin, async (c) => {
    const items = (await store.listApiKeys(c.get("principal").tenantId)).map(({ hash: _h, ...k }) =>
      k
    );
    return c.json(page(c, items));
  });
  app.delete("/api-keys/:id", admin, async (c) => {
    const p = c.get("principal");
    const id = c.req.param("id");
    const revoked = await store.revokeApiKey(p.tenantId, id);
    // The cascade runs even for a key already revoked: two writes, and a crash between them in
    // an earlier call would otherwise leave that key's sessions live for good.
    const sessions = await store.revokeCliSessionsByIssuer(p.tenantId, id);
    if (sessions > 0 || revoked) await announceChange(store);
    if (!revoked) throw new AppError("not_found", "no such active API key");
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "api_key.revoke",
      target: id,
      detail: { sessionsRevoked: sessions },
    });
    return c.json({ revoked: id, sessionsRevoked: sessions });
  });

  // Partner servers with X-API-Key.
  app.post("/v1/sessions", partner, async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, partnerSessionBody);
    const out = await mint(p, {
      siteIds: await checkSites(p.tenantId, body.sites ?? []),
      operator: body.operator_display_name,
      externalOperatorId: body.external_operator_id,
      issuer: "api_key",
      issuerRef: p.apiKeyId!,
    });
    return c.json({
      ...out,
      expires_at: new Date(out.expiresAt).toISOString(),
      hard_cap_at: new Date(out.hardCapAt).toISOString(),
    }, 201);
  });
  app.get("/v1/sessions", partner, async (c) => {
    const p = c.get("principal");
    const items = (await store.listCliSessions(p.tenantId)).map(view);
    return c.json(page(c, items));
  });
  app.delete(
    "/v1/sessions/:tokenHash",
    partner,
    async (c) => c.json(await revoke(c.get("principal"), c.req.param("tokenHash"))),
  );
  return app;
}
