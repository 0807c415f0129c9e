/**
 * Sign-in and sign-out for browsers: `POST /api/auth/login` checks email and password (scrypt),
 * limited to 5 failures per minute per account and per address (see createSignIn), and sets the HttpOnly session
 * cookie (SameSite=Lax; Secure behind TLS) and returns the antiforgery token the page must echo
 * in `X-CSRF-Token` on every state change. `POST /api/auth/logout`, `GET /api/auth/me`.
 * @module
 */
import { type Context, Hono } from "hono";
import { reachedOverHttps } from "./browser_scheme.ts";
import { announceChange } from "../watcher.ts";
import { AppError } from "../../shared/errors.ts";
import { encodeBase64Url } from "../../shared/encoding.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { csrfTokenFor, SESSION_COOKIE } from "../tenancy/auth.ts";
import { checkSignInPassword, prepareSignInDecoy } from "../tenancy/password.ts";
import { SharedRateLimiter } from "../tenancy/shared_rate_limit.ts";
import { addressKey } from "../tenancy/address_key.ts";
import { auditAnonymousRefusal } from "../tenancy/anonymous_audit.ts";
import { type AuthVars, requireAuth, userIdOf } from "./middleware/auth.ts";
import { jsonBody, page } from "./validate.ts";
import { loginBody, switchTenantBody } from "./schemas.ts";

/** How long a browser session lives. */
export const SESSION_TTL_MS = 12 * 3600e3;

function secret(): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

/** A successful sign-in: the cookie to set and what the page needs. */
export interface SignedIn {
  setCookie: string;
  csrfToken: string;
  user: { id: string; email: string; role: string; tenantId: string };
  expiresAt: string;
}

/** Signs a user in by email and password (rate-limited per account and per IP). */
export type SignIn = (
  email: string,
  password: string,
  ip: string,
  secure: boolean,
) => Promise<SignedIn>;

/** Failed sign-ins allowed per minute per account and per address. */
export const SIGN_IN_FAILURES_PER_MINUTE = 5;

/**
 * Builds the sign-in shared by the JSON API and the sign-in page (one set of limits, shared by
 * every node through the store). Only failures count, per account and per address. An address
 * over its limit is refused outright. An account over its limit is locked for the addresses that
 * failed on it, but a correct password from an address that has not failed on it still signs in
 * (as the big identity providers do), so nobody can lock a user out by guessing wrong on purpose;
 * a wrong one from anywhere is refused while the lock holds. Each attempt holds its place in the
 * counts while its password is checked, so simultaneous attempts are limited as sequential ones.
 */
export function createSignIn(d: {
  store: Store;
  clock: Clock;
  /** The password check (default `checkSignInPassword`; tests count its calls). */
  checkPassword?: (password: string, stored: string | null) => Promise<boolean>;
}): SignIn {
  prepareSignInDecoy().catch(() => {}); // a failure is met again, and reported, at sign-in
  // In the store: every node of a deployment counts in the same windows.
  const limit = (name: string) =>
    new SharedRateLimiter(d.store, name, SIGN_IN_FAILURES_PER_MINUTE, 60_000);
  const perAccount = limit("signin-account");
  const perIp = limit("signin-ip");
  const perAccountIp = limit("signin-account-ip");
  const limited = async (email: string, ip: string) => {
    // Each refused attempt costs the sender nothing: its audit row is sampled per address.
    if (auditAnonymousRefusal(d.store, ip, d.clock.now())) {
      await d.store.appendAudit({
        tenantId: null,
        actor: `ip:${ip}`,
        action: "auth.rate_limited",
        target: email,
        detail: {},
      });
    }
    return new AppError("rate_limited");
  };
  return async (rawEmail, password, ip, secure) => {
    const email = rawEmail.toLowerCase();
    // Per client: an IPv4 address, or an IPv6 /64 (address_key.ts).
    const client = addressKey(ip);
    const pair = `${email}\n${client}`;
    // Every attempt is counted before its password is checked and handed back unless the
    // password was checked and wrong: attempts sent at once then see each other. (Looking first
    // and counting after the check let any number of simultaneous guesses through while the
    // first ones were being checked: 30 at once, 30 checks.)
    if (!await perIp.take(client)) {
      await perIp.untake(client);
      throw await limited(email, ip);
    }
    const locked = !await perAccount.take(email);
    if (locked && await perAccountIp.hits(pair) > 0) {
      await perIp.untake(client);
      await perAccount.untake(email);
      throw await limited(email, ip);
    }
    let user: Awaited<ReturnType<Store["getUserByEmail"]>> = null;
    let ok = false;
    let checked = false;
    try {
      user = await d.store.getUserByEmail(email);
      // One password check for every attempt, a user or not (password.ts: no timing oracle).
      const usable = user && user.disabledAt === null ? user.passwordHash : null;
      ok = await (d.checkPassword ?? checkSignInPassword)(password, usable);
      checked = true;
    } finally {
      // Only failures count: a right password, or a check that could not run, hands its back.
      if (ok || !checked) {
        await perIp.untake(client);
        await perAccount.untake(email);
      }
    }
    if (!user || !ok) {
      await perAccountIp.take(pair);
      if (locked) throw await limited(email, ip);
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
    const csrf = await csrfTokenFor(cookie);
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
    return {
      setCookie:
        `${SESSION_COOKIE}=${cookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${
          SESSION_TTL_MS / 1000
        }` + (secure ? "; Secure" : ""),
      csrfToken: csrf,
      user: { id: user.id, email: user.email, role: user.role, tenantId: user.tenantId },
      expiresAt: new Date(now + SESSION_TTL_MS).toISOString(),
    };
  };
}

/** Whether the browser reached the cloud over https (browser_scheme.ts). */
export function isSecureRequest(c: Context, publicUrl: string): boolean {
  return reachedOverHttps({
    host: c.req.header("host"),
    forwardedProto: c.req.header("x-forwarded-proto"),
    encrypted: new URL(c.req.url).protocol === "https:",
  }, publicUrl);
}

/** The routes under /api/auth. */
export function sessionRoutes(
  d: {
    store: Store;
    clock: Clock;
    remote: (c: unknown) => string;
    signIn: SignIn;
    publicUrl: () => string;
  },
): Hono<AuthVars> {
  const app = new Hono<AuthVars>();

  app.post("/login", async (c) => {
    const body = await jsonBody(c, loginBody);
    const done = await d.signIn(
      body.email,
      body.password,
      d.remote(c),
      isSecureRequest(c, d.publicUrl()),
    );
    c.header("set-cookie", done.setCookie);
    return c.json({ user: done.user, csrfToken: done.csrfToken, expiresAt: done.expiresAt });
  });

  app.post("/logout", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    if (p.sessionHash) {
      await d.store.deleteWebSession(p.sessionHash);
      await d.store.appendAudit({
        tenantId: p.tenantId,
        actor: p.actor,
        action: "auth.logout",
        target: p.userId ?? "",
        detail: { ip: d.remote(c) },
      });
      await announceChange(d.store);
    }
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
