/**
 * Who is calling: turns a request's credentials into a Principal, or says why not. This is the
 * one place credentials are read. The kinds (guide §8):
 *
 * - `Authorization: Bearer nt_…`: a user's API token (tenant fixed at creation).
 * - Cookie `nc_session`: a signed-in browser; its state changes must carry the session's
 *   antiforgery token in `X-CSRF-Token` (mismatch: 400, as the guide's §10 says).
 * - `Authorization: Bearer ops_…`: a CLI session, scoped to sites, sliding 30 days, capped 180.
 * - `X-License: {guid}` (+ `X-User-Id`), or the WebSocket subprotocols `license.{guid}.user.{uid}`
 *   or `["license.{guid}", "user.{uid}"]`: an external console; the user id is audit metadata.
 * - `X-API-Key: nk_…`: a partner key that mints CLI sessions, optionally pinned to a CIDR checked
 *   against the socket address (X-Forwarded-For only from configured trusted proxies).
 * - `X-Admin-Api-Key`: platform ops break-glass, crosses tenants, audited on every use.
 *
 * Two credentials naming different identities: 400, never "first one wins". Secrets are looked
 * up by their SHA-256 (never stored in clear) and refused in query strings.
 * @module
 */
import { BlockList, isIP } from "node:net";
import { AppError } from "../../shared/errors.ts";
import { auditAnonymousRefusal } from "./anonymous_audit.ts";
import { constantTimeEqual, hashToken, isTokenShape } from "../../shared/crypto/token.ts";
import { encodeBase64Url } from "../../shared/encoding.ts";
import type { Role, Store } from "../store/store.ts";
import { checkCloudSessionRequest, fetchFacts } from "./isolation.ts";

/** The browser session cookie's name. */
export const SESSION_COOKIE = "nc_session";

/**
 * The antiforgery token of a session: a one-way function of its (HttpOnly, secret) cookie, so a
 * server-rendered page can embed it without the store keeping it, and knowing it reveals nothing.
 */
export async function csrfTokenFor(sessionCookie: string): Promise<string> {
  const d = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`nc-antiforgery:${sessionCookie}`),
  );
  return encodeBase64Url(new Uint8Array(d));
}

/** The kinds of credential. */
export type CredentialKind =
  | "api_token"
  | "session"
  | "cli_session"
  | "license"
  | "api_key"
  | "admin_key";

/** Credentials of a person using the cloud's own API and UI. */
export const USER_KINDS: CredentialKind[] = ["api_token", "session"];
/** Credentials accepted on the tunnel paths. */
export const TUNNEL_KINDS: CredentialKind[] = [
  "api_token",
  "session",
  "cli_session",
  "license",
  "admin_key",
];

/** The tenant id an admin-key principal carries: it matches no tenant; callers special-case it. */
export const ANY_TENANT = "*";

/** An authenticated caller. */
export interface Principal {
  kind: CredentialKind;
  /** The one tenant the caller acts in (ANY_TENANT for the admin key). */
  tenantId: string;
  /** The user, for user credentials; null otherwise. */
  userId: string | null;
  role: Role;
  /** For audit: `user:<id>`, `license:<id>`, `cli:<hash prefix>`, `key:<id>`, `admin-key`. */
  actor: string;
  /** Extra audit metadata (e.g. the console's X-User-Id). Never used for authorization. */
  auditUser?: string;
  /** For a session: the hashes of its cookie (to sign out) and of its antiforgery token. */
  sessionHash?: string;
  csrfHash?: string;
  /** For a CLI session: its hash (to slide it) and the sites it may reach. */
  cliSessionHash?: string;
  siteIds?: string[];
  /** For an API key: its id and who it is. */
  apiKeyId?: string;
  /** For an API token or a license: the hash it is stored by (to check it is still valid). */
  credentialHash?: string;
}

/** What authentication needs besides the request. */
export interface AuthContext {
  /** The socket's remote address. */
  remote?: string;
  /**
   * SHA-256 of each admin key accepted now (two during a rotation), or null when none is
   * configured; absent on routes that do not take the admin key.
   */
  adminKeyHashes?: string[] | null;
  /** Where the admin key is accepted from (CIDRs); empty or absent: anywhere. */
  adminKeyCidrs?: string[];
  /** CIDRs whose X-Forwarded-For is believed. */
  trustedProxies?: string[];
  /** Current time (for CLI session expiry). */
  now?: number;
}

const SECRET_QUERY_KEYS = ["token", "access_token", "api_key", "key", "license"];
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What authentication reads of a request. A fetch `Request` is one; the native front passes the
 * parsed head of a tunnel upgrade as one without building a `Request` (which allocates about
 * 24 KiB per open, garbage by the time the tunnel idles).
 */
export interface RequestFacts {
  readonly method: string;
  readonly url: string;
  readonly headers: { get(name: string): string | null };
}

/** Every value of one cookie in the Cookie header(s), in order. */
export function readCookies(req: RequestFacts, name: string): string[] {
  const out: string[] = [];
  for (const part of (req.headers.get("cookie") ?? "").split(/[;,]/)) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) out.push(v.join("="));
  }
  return out;
}

/** Reads one cookie from a Cookie header. */
export function readCookie(req: RequestFacts, name: string): string | null {
  const header = req.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return null;
}

/** Parses a CIDR into a BlockList (null when malformed). */
export function cidrList(cidrs: string[]): BlockList | null {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split("/");
    const type = isIP(addr) === 6 ? "ipv6" : isIP(addr) === 4 ? "ipv4" : null;
    const prefix = Number(bits ?? (type === "ipv6" ? 128 : 32));
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === "ipv6" ? 128 : 32)) {
      return null;
    }
    list.addSubnet(addr, prefix, type);
  }
  return list;
}

const parsed = new WeakMap<readonly string[], BlockList | null>();

/**
 * {@linkcode cidrList} of a setting's list, parsed once per list: the `--trusted-proxies` and
 * admin-key lists are the configuration's own arrays, asked on every request.
 */
function settingList(cidrs: readonly string[]): BlockList | null {
  let list = parsed.get(cidrs);
  if (list === undefined) parsed.set(cidrs, list = cidrList([...cidrs]));
  return list;
}

function inList(list: BlockList, ip: string): boolean {
  const bare = ip.replace(/^::ffff:/, "");
  const type = isIP(bare) === 6 ? "ipv6" : "ipv4";
  return isIP(bare) !== 0 && list.check(bare, type);
}

/** Whether `remote` (a socket's address) is one of the `--trusted-proxies` CIDRs. */
export function fromTrustedProxy(remote: string, trustedProxies: string[] | undefined): boolean {
  return trustedProxyTest(trustedProxies)(remote);
}

/**
 * {@linkcode fromTrustedProxy} with the CIDRs parsed once, for a path that asks per connection
 * (the data port's accept).
 */
export function trustedProxyTest(trustedProxies: string[] | undefined): (ip: string) => boolean {
  const proxies = trustedProxies?.length ? settingList(trustedProxies) : null;
  return (ip) => proxies !== null && inList(proxies, ip);
}

/** The caller's address: the socket's, or X-Forwarded-For's last hop from a trusted proxy. */
export function clientAddress(req: RequestFacts, ctx: AuthContext): string {
  const remote = ctx.remote ?? "";
  const proxies = ctx.trustedProxies?.length ? settingList(ctx.trustedProxies) : null;
  const xff = req.headers.get("x-forwarded-for");
  if (proxies && xff && inList(proxies, remote)) {
    const hops = xff.split(",").map((h) => h.trim()).filter(Boolean);
    // A trusted proxy forwarding garbage is a malformed request, not an unknown client.
    if (!hops.length || hops.some((h) => isIP(h.replace(/^::ffff:/, "")) === 0)) {
      throw new AppError("bad_request", "X-Forwarded-For: expected a list of IP addresses");
    }
    // Walk from the nearest hop back while hops are our own proxies.
    for (let i = hops.length - 1; i >= 0; i--) {
      if (!inList(proxies, hops[i])) return hops[i];
    }
  }
  return remote.replace(/^::ffff:/, "");
}

/**
 * License and console user from the X-License header or the WebSocket subprotocols. The same
 * license sent both ways is one identity; two different ones (or two users) are a 400.
 */
function licenseOf(req: RequestFacts): { guid: string; user?: string } | null {
  const found: { guid: string; user?: string }[] = [];
  const header = req.headers.get("x-license");
  if (header) {
    if (!GUID.test(header.trim())) throw new AppError("auth_required");
    found.push({
      guid: header.trim().toLowerCase(),
      user: req.headers.get("x-user-id") ?? undefined,
    });
  }
  const protos = (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim());
  for (const p of protos) {
    const m = /^license\.([0-9a-fA-F-]{36})(?:\.user\.(.+))?$/.exec(p);
    if (!m) continue;
    if (!GUID.test(m[1])) throw new AppError("auth_required");
    const user = m[2] ?? protos.find((x) => x.startsWith("user."))?.slice(5);
    found.push({ guid: m[1].toLowerCase(), user });
  }
  if (found.length === 0) return null;
  const first = found[0];
  for (const f of found.slice(1)) {
    if (f.guid !== first.guid || (f.user && first.user && f.user !== first.user)) {
      throw new AppError("conflicting_credentials");
    }
    first.user ??= f.user;
  }
  return first;
}

async function userPrincipal(
  store: Store,
  kind: "api_token" | "session",
  userId: string,
  tenantId: string,
): Promise<Principal | null> {
  const user = await store.getUser(userId);
  if (!user || user.disabledAt !== null) return null;
  // A user acts in their own tenant; a superadmin in whichever tenant the credential names.
  if (user.tenantId !== tenantId && user.role !== "superadmin") return null;
  return { kind, tenantId, userId, role: user.role, actor: `user:${userId}` };
}

/** How often a token's "last used" time is written: once a minute, not once a request. */
export const TOUCH_EVERY_MS = 60_000;
const touched = new Map<string, number>();

/** Records that an API token was used, at most once per TOUCH_EVERY_MS per token. */
function touchApiToken(store: Store, hash: string): void {
  const now = Date.now();
  if (now - (touched.get(hash) ?? -Infinity) < TOUCH_EVERY_MS) return;
  if (touched.size > 10_000) touched.clear();
  touched.set(hash, now);
  store.touchApiToken(hash).catch(() => {});
}

async function fromBearer(store: Store, header: string, now: number): Promise<Principal> {
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new AppError("auth_required");
  const token = m[1];
  const hash = await hashToken(token);
  if (isTokenShape(token, "nt")) {
    const rec = await store.getApiToken(hash);
    const p = rec && rec.revokedAt === null
      ? await userPrincipal(store, "api_token", rec.userId, rec.tenantId)
      : null;
    if (!p) throw new AppError("auth_required");
    // A write per request (a browser page is dozens) would cost more than the request.
    touchApiToken(store, hash);
    return { ...p, credentialHash: hash };
  }
  if (isTokenShape(token, "ops")) {
    const s = await store.getCliSession(hash);
    if (!s || s.revokedAt !== null || s.expiresAt <= now) {
      throw new AppError("auth_required", "CLI session revoked or expired; open a new CLI session");
    }
    return {
      kind: "cli_session",
      tenantId: s.tenantId,
      userId: s.issuer === "user" ? s.issuerRef : null,
      role: "operator",
      actor: `cli:${hash.slice(0, 12)}`,
      auditUser: s.externalOperatorId ?? s.operator,
      cliSessionHash: hash,
      siteIds: s.siteIds,
    };
  }
  throw new AppError("auth_required");
}

async function fromCookie(store: Store, value: string): Promise<Principal | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(value)) return null;
  const hash = await hashToken(value);
  const s = await store.getWebSession(hash);
  if (!s) return null;
  const p = await userPrincipal(store, "session", s.userId, s.tenantId);
  return p ? { ...p, sessionHash: hash, csrfHash: s.csrfHash } : null;
}

async function fromLicense(store: Store, l: { guid: string; user?: string }): Promise<Principal> {
  const hash = await hashToken(l.guid);
  const lic = await store.getLicenseByHash(hash);
  if (!lic || lic.revokedAt !== null) throw new AppError("auth_required");
  return {
    credentialHash: hash,
    kind: "license",
    tenantId: lic.tenantId,
    userId: null,
    role: "operator",
    actor: `license:${lic.id}`,
    auditUser: l.user?.slice(0, 200),
  };
}

async function fromApiKey(
  store: Store,
  req: RequestFacts,
  key: string,
  ctx: AuthContext,
): Promise<Principal> {
  if (!isTokenShape(key, "nk")) throw new AppError("auth_required");
  const k = await store.getApiKeyByHash(await hashToken(key));
  if (!k || k.revokedAt !== null) throw new AppError("auth_required");
  if (k.allowedCidr) {
    const list = cidrList([k.allowedCidr]);
    const ip = clientAddress(req, ctx);
    if (!list || !inList(list, ip)) {
      await store.appendAudit({
        tenantId: k.tenantId,
        actor: `key:${k.id}`,
        action: "api_key.deny_cidr",
        target: k.id,
        detail: { ip, allowed: k.allowedCidr },
      });
      throw new AppError("forbidden", `this API key is not allowed from ${ip}`);
    }
  }
  return {
    kind: "api_key",
    tenantId: k.tenantId,
    userId: null,
    role: "operator",
    actor: `key:${k.id}`,
    apiKeyId: k.id,
  };
}

/**
 * Authenticates a request. Returns null for an anonymous request (an expired or unknown session
 * cookie counts as none); throws AppError for a credential that is present but not acceptable,
 * for a credential in the URL, for two different identities, and for a cookie-authenticated
 * state change without the session's antiforgery token.
 */
export async function authenticate(
  store: Store,
  req: RequestFacts,
  ctx: AuthContext = {},
): Promise<Principal | null> {
  const url = new URL(req.url);
  for (const k of SECRET_QUERY_KEYS) {
    if (url.searchParams.has(k)) {
      throw new AppError("bad_request", "credentials are not accepted in the query string");
    }
  }
  const now = ctx.now ?? Date.now();
  const found: Principal[] = [];
  const header = req.headers.get("authorization");
  if (header) found.push(await fromBearer(store, header, now));
  const cookies = readCookies(req, SESSION_COOKIE);
  // Two different session cookies are two identities, not "the first one wins".
  if (new Set(cookies).size > 1) throw new AppError("conflicting_credentials");
  const cookie = cookies[0] ?? null;
  const session = cookie ? await fromCookie(store, cookie) : null;
  if (session) found.push(session);
  const license = licenseOf(req);
  if (license) found.push(await fromLicense(store, license));
  const apiKey = req.headers.get("x-api-key");
  if (apiKey) found.push(await fromApiKey(store, req, apiKey, ctx));
  const adminKey = req.headers.get("x-admin-api-key");
  if (adminKey) {
    // A route without an admin-key context does not take the key: refuse it, audit nothing.
    if (ctx.adminKeyHashes === undefined) {
      throw new AppError("forbidden", "the admin API key is not accepted on this route");
    }
    const sent = await hashToken(adminKey);
    // Every configured key is compared (in constant time each), so timing tells nothing.
    let ok = false;
    for (const h of ctx.adminKeyHashes ?? []) ok = constantTimeEqual(sent, h) || ok;
    const ip = clientAddress(req, ctx);
    const where = ctx.adminKeyCidrs?.length ? settingList(ctx.adminKeyCidrs) : null;
    const fromElsewhere = ok && where !== null && !inList(where, ip);
    if (fromElsewhere) ok = false;
    // A wrong key is an identity-less refusal: sampled per address (anonymous_audit.ts).
    if (ok || auditAnonymousRefusal(store, ip, now)) {
      await store.appendAudit({
        tenantId: null,
        actor: "admin-key",
        action: ok ? "admin_key.use" : "admin_key.deny",
        target: url.pathname,
        detail: { method: req.method, ip },
      });
    }
    if (fromElsewhere) {
      throw new AppError("forbidden", "the admin API key is not accepted from this address");
    }
    if (!ok) throw new AppError("auth_required");
    found.push({
      kind: "admin_key",
      tenantId: ANY_TENANT,
      userId: null,
      role: "superadmin",
      actor: "admin-key",
    });
  }
  if (found.length === 0) return null;
  const first = found[0];
  if (found.some((p) => p.userId === null || p.userId !== first.userId)) {
    if (found.length > 1) throw new AppError("conflicting_credentials");
  }
  const chosen = found.find((p) => p.kind !== "session") ?? first;
  if (session && chosen === session) {
    // A device page shares the cloud's origin under /c/: it may not ride the operator's session.
    const refusal = checkCloudSessionRequest(fetchFacts(req.method, (n) => req.headers.get(n)));
    if (refusal) throw new AppError("forbidden", refusal.message);
  }
  if (session && chosen === session && !SAFE_METHODS.has(req.method)) {
    const sent = req.headers.get("x-csrf-token") ?? "";
    if (!sent || !constantTimeEqual(await hashToken(sent), session.csrfHash!)) {
      throw new AppError("antiforgery");
    }
  }
  return chosen;
}
