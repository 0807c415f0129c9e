/**
 * Sign-in and sign-out for browsers: `POST /api/auth/login` checks email and password (scrypt),
 * rate-limited to 5 attempts per minute per account and per IP, and sets the HttpOnly session
 * cookie (SameSite=Lax; Secure behind TLS) and returns the antiforgery token the page must echo
 * in `X-CSRF-Token` on every state change. `POST /api/auth/logout`, `GET /api/auth/me`.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import { encodeBase64Url } from "../../shared/encoding.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { SESSION_COOKIE } from "../tenancy/auth.ts";
import { verifyPassword } from "../tenancy/password.ts";
import { RateLimiter } from "../tenancy/rate_limit.ts";
import { type AuthVars, requireAuth, userIdOf } from "./middleware/auth.ts";
import { jsonBody, page } from "./validate.ts";
import { loginBody, switchTenantBody } from "./schemas.ts";

/** How long a browser session lives. */
export const SESSION_TTL_MS = 12 * 3600e3;

function secret(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** The routes under /api/auth. */
export function sessionRoutes(
  d: { store: Store; clock: Clock; remote: (c: unknown) => string },
): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const perAccount = new RateLimiter(5, 60_000, d.clock);
  const perIp = new RateLimiter(5, 60_000, d.clock);

  app.post("/login", async (c) => {
    const body = await jsonBody(c, loginBody);
    const ip = d.remote(c);
    const email = body.email.toLowerCase();
    const okIp = perIp.take(ip);
    const okAccount = perAccount.take(email);
    if (!okIp || !okAccount) {
      await d.store.appendAudit({
        tenantId: null,
        actor: `ip:${ip}`,
        action: "auth.rate_limited",
        target: email,
        detail: {},
      });
      throw new AppError("rate_limited");
    }
    const user = await d.store.getUserByEmail(email);
    const ok = user && user.disabledAt === null &&
      await verifyPassword(body.password, user.passwordHash);
    if (!user || !ok) {
      await d.store.appendAudit({
        tenantId: user?.tenantId ?? null,
        actor: `ip:${ip}`,
        action: "auth.login_failed",
        target: email,
        detail: {},
      });
      throw new AppError("invalid_login");
    }
    const cookie = secret();
    const csrf = secret();
    const now = d.clock.now();
    await d.store.createWebSession({
      hash: await hashToken(cookie),
      tenantId: user.tenantId,
      userId: user.id,
      csrfHash: await hashToken(csrf),
      expiresAt: now + SESSION_TTL_MS,
    });
    await d.store.appendAudit({
      tenantId: user.tenantId,
      actor: `user:${user.id}`,
      action: "auth.login",
      target: user.id,
      detail: { ip },
    });
    const secure = new URL(c.req.url).protocol === "https:" ||
      c.req.header("x-forwarded-proto") === "https";
    c.header(
      "set-cookie",
      `${SESSION_COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${
        SESSION_TTL_MS / 1000
      }` +
        (secure ? "; Secure" : ""),
    );
    return c.json({
      user: { id: user.id, email: user.email, role: user.role, tenantId: user.tenantId },
      csrfToken: csrf,
      expiresAt: new Date(now + SESSION_TTL_MS).toISOString(),
    });
  });

  app.post("/logout", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    if (p.sessionHash) await d.store.deleteWebSession(p.sessionHash);
    c.header("set-cookie", `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    return c.json({ ok: true });
  });

  // Superadmins: the tenant picker.
  app.post("/tenant", requireAuth(d.store, "superadmin", { kinds: ["session"] }), async (c) => {
    const p = c.get("principal");
    const { tenantId } = await jsonBody(c, switchTenantBody);
    if (!await d.store.getTenant(tenantId)) throw new AppError("not_found", "no such tenant");
    await d.store.setWebSessionTenant(p.sessionHash!, tenantId);
    await d.store.appendAudit({
      tenantId,
      actor: p.actor,
      action: "auth.switch_tenant",
      target: tenantId,
      detail: { from: p.tenantId },
    });
    return c.json({ tenantId });
  });
  app.get(
    "/tenants",
    requireAuth(d.store, "superadmin"),
    async (c) => c.json(page(c, await d.store.listTenants())),
  );

  app.get("/me", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    const user = await d.store.getUser(userIdOf(p));
    return c.json({
      id: p.userId,
      email: user?.email,
      role: p.role,
      tenantId: p.tenantId,
      via: p.kind,
    });
  });
  return app;
}
