/**
 * Middleware factory: authenticate the request (401 "authentication required" when anonymous),
 * check the role, and put the Principal on the context for the route.
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { AppError } from "../../../shared/errors.ts";
import type { Role, Store } from "../../store/store.ts";
import { authenticate, type Principal } from "../../tenancy/auth.ts";
import { requireRole } from "../../tenancy/roles.ts";

/** Context variables set by the auth middleware. */
export type AuthVars = { Variables: { principal: Principal } };

/** Requires a caller with at least `min` role. */
export function requireAuth(store: Store, min: Role = "viewer"): MiddlewareHandler<AuthVars> {
  return async (c, next) => {
    const p = await authenticate(store, c.req.raw);
    if (!p) throw new AppError("auth_required");
    requireRole(p.role, min);
    c.set("principal", p);
    await next();
  };
}
