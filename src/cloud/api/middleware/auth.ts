/**
 * Middleware factory: authenticate the request (401 "authentication required" when anonymous),
 * check the credential kind and the role, and put the Principal on the context for the route.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { AppError } from "../../../shared/errors.ts";
import type { Role, Store } from "../../store/store.ts";
import {
  type AuthContext,
  authenticate,
  type CredentialKind,
  type Principal,
  USER_KINDS,
} from "../../tenancy/auth.ts";
import { requireRole } from "../../tenancy/roles.ts";

/** Context variables set by the auth middleware. */
export type AuthVars = {
  Variables: { principal: Principal };
  Bindings: { incoming?: { socket?: { remoteAddress?: string } } };
};

/** The socket address of a request served by the node HTTP server. */
export function remoteOf(c: Context): string {
  return (c.env as AuthVars["Bindings"] | undefined)?.incoming?.socket?.remoteAddress ?? "";
}

/** Options of {@linkcode requireAuth}. */
export interface RequireAuthOptions {
  /** Accepted credential kinds (default: a person's: session cookie or nt_ token). */
  kinds?: CredentialKind[];
  /** What authentication needs besides the request (admin key, trusted proxies, clock). */
  context?: () => Omit<AuthContext, "remote">;
}

/** Requires a caller with an accepted credential kind and at least `min` role. */
export function requireAuth(
  store: Store,
  min: Role = "viewer",
  opts: RequireAuthOptions = {},
): MiddlewareHandler<AuthVars> {
  const kinds = opts.kinds ?? USER_KINDS;
  return async (c, next) => {
    const p = await authenticate(store, c.req.raw, { ...opts.context?.(), remote: remoteOf(c) });
    if (!p) throw new AppError("auth_required");
    if (!kinds.includes(p.kind)) {
      throw new AppError(
        "forbidden",
        `this endpoint does not accept a ${p.kind.replace("_", " ")}`,
      );
    }
    requireRole(p.role, min);
    c.set("principal", p);
    await next();
  };
}

/** The user behind a principal (routes that accept only a person's credentials). */
export function userIdOf(p: Principal): string {
  if (!p.userId) throw new AppError("forbidden", "this needs a signed-in user or a user's token");
  return p.userId;
}
