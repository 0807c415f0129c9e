/**
 * Who is looking at a UI page: the signed-in session (cookie only — the UI is for people in a
 * browser), their user, tenant, the page's antiforgery token and, for superadmins, the tenants
 * they may switch to. A request without a live session gets null and the page redirects to
 * `/login?next=…`, so an expired session comes back to where it was.
 * @module
 */
import type { Store, Tenant, User } from "../store/store.ts";
import {
  authenticate,
  csrfTokenFor,
  type Principal,
  readCookie,
  SESSION_COOKIE,
} from "../tenancy/auth.ts";
import { AppError } from "../../shared/errors.ts";

/** The page's viewer. */
export interface UiContext {
  principal: Principal;
  user: User;
  tenant: Tenant | null;
  csrf: string;
  /** Every tenant, for the superadmin's picker; empty for everyone else. */
  tenants: Tenant[];
}

/** Resolves the viewer of a page request, or null when not signed in. */
export async function uiContext(
  store: Store,
  req: Request,
  remote: string,
): Promise<UiContext | null> {
  const cookie = readCookie(req, SESSION_COOKIE);
  if (!cookie) return null;
  let principal: Principal | null;
  try {
    principal = await authenticate(store, req, { remote });
  } catch (e) {
    if (e instanceof AppError && e.code === "auth_required") return null;
    throw e;
  }
  if (!principal || principal.kind !== "session" || !principal.userId) return null;
  const user = await store.getUser(principal.userId);
  if (!user) return null;
  return {
    principal,
    user,
    tenant: await store.getTenant(principal.tenantId),
    csrf: await csrfTokenFor(cookie),
    tenants: user.role === "superadmin" ? await store.listTenants() : [],
  };
}

/** The sign-in URL that comes back to `req`'s page. */
export function signInUrl(req: Request): string {
  const u = new URL(req.url);
  return `/login?next=${encodeURIComponent(u.pathname + u.search)}`;
}
