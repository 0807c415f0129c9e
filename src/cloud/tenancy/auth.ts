/**
 * Who is calling: turns a request's credentials into a Principal bound to exactly one tenant,
 * or says why not. Tokens are looked up by their SHA-256 hash (never stored in clear) and are
 * refused in query strings. This is the one place credentials are read.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import { hashToken, isTokenShape } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";

/** An authenticated caller, scoped to one tenant. */
export interface Principal {
  kind: "api_token";
  tenantId: string;
  userId: string;
  /** For audit: `token:<first 8 hex of hash>` style, never the token. */
  actor: string;
}

const SECRET_QUERY_KEYS = ["token", "access_token", "api_key", "key", "license"];

/**
 * Authenticates a request. Returns null for an anonymous request; throws AppError for a
 * credential that is present but not acceptable (bad shape, unknown, revoked) or in the URL.
 */
export async function authenticate(store: Store, req: Request): Promise<Principal | null> {
  const url = new URL(req.url);
  for (const k of SECRET_QUERY_KEYS) {
    if (url.searchParams.has(k)) {
      throw new AppError("bad_request", "credentials are not accepted in the query string");
    }
  }
  const header = req.headers.get("authorization");
  if (!header) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new AppError("auth_required", "authentication required");
  const token = m[1];
  if (!isTokenShape(token, "nt")) throw new AppError("auth_required");
  const hash = await hashToken(token);
  const rec = await store.getApiToken(hash);
  if (!rec || rec.revokedAt !== null) throw new AppError("auth_required");
  const user = await store.getUser(rec.userId);
  if (!user || user.disabledAt !== null || user.tenantId !== rec.tenantId) {
    throw new AppError("auth_required");
  }
  store.touchApiToken(hash).catch(() => {});
  return {
    kind: "api_token",
    tenantId: rec.tenantId,
    userId: rec.userId,
    actor: `user:${rec.userId}`,
  };
}
