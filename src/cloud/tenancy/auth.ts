/**
 * Who is calling: turns a request's credentials into a Principal bound to exactly one tenant,
 * or says why not. This is the one place credentials are read.
 *
 * - `Authorization: Bearer nt_…`: a per-user API token.
 * - Cookie `nc_session`: a signed-in browser; its state changes must carry the session's
 *   antiforgery token in `X-CSRF-Token` (mismatch: 400, as the guide's §10 says).
 * Two credentials naming different users: 400, never "first one wins". Secrets are looked up by
 * their SHA-256 (never stored in clear) and refused in query strings.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import { constantTimeEqual, hashToken, isTokenShape } from "../../shared/crypto/token.ts";
import type { Role, Store } from "../store/store.ts";

/** The browser session cookie's name. */
export const SESSION_COOKIE = "nc_session";

/** An authenticated caller, scoped to one tenant. */
export interface Principal {
  kind: "api_token" | "session";
  tenantId: string;
  userId: string;
  role: Role;
  /** For audit: `user:<id>`; never a secret. */
  actor: string;
  /** For a session: the hash of its cookie (to sign out) and of its antiforgery token. */
  sessionHash?: string;
  csrfHash?: string;
}

const SECRET_QUERY_KEYS = ["token", "access_token", "api_key", "key", "license"];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Reads one cookie from a Cookie header. */
export function readCookie(req: Request, name: string): string | null {
  const header = req.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return null;
}

async function fromBearer(store: Store, header: string): Promise<Principal> {
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m || !isTokenShape(m[1], "nt")) throw new AppError("auth_required");
  const hash = await hashToken(m[1]);
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
    role: user.role,
    actor: `user:${rec.userId}`,
  };
}

async function fromCookie(store: Store, value: string): Promise<Principal | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(value)) return null;
  const hash = await hashToken(value);
  const s = await store.getWebSession(hash);
  if (!s) return null;
  const user = await store.getUser(s.userId);
  if (!user || user.disabledAt !== null || user.tenantId !== s.tenantId) return null;
  return {
    kind: "session",
    tenantId: s.tenantId,
    userId: s.userId,
    role: user.role,
    actor: `user:${s.userId}`,
    sessionHash: hash,
    csrfHash: s.csrfHash,
  };
}

/**
 * Authenticates a request. Returns null for an anonymous request (an expired or unknown session
 * cookie counts as none); throws AppError for a bearer credential that is not acceptable, for a
 * credential in the URL, for two different identities, and for a cookie-authenticated state
 * change without the session's antiforgery token.
 */
export async function authenticate(store: Store, req: Request): Promise<Principal | null> {
  const url = new URL(req.url);
  for (const k of SECRET_QUERY_KEYS) {
    if (url.searchParams.has(k)) {
      throw new AppError("bad_request", "credentials are not accepted in the query string");
    }
  }
  const header = req.headers.get("authorization");
  const cookie = readCookie(req, SESSION_COOKIE);
  const bearer = header ? await fromBearer(store, header) : null;
  const session = cookie ? await fromCookie(store, cookie) : null;
  if (bearer && session && bearer.userId !== session.userId) {
    throw new AppError("conflicting_credentials");
  }
  if (bearer) return bearer;
  if (!session) return null;
  if (!SAFE_METHODS.has(req.method)) {
    const sent = req.headers.get("x-csrf-token") ?? "";
    if (!sent || !constantTimeEqual(await hashToken(sent), session.csrfHash!)) {
      throw new AppError("antiforgery");
    }
  }
  return session;
}
