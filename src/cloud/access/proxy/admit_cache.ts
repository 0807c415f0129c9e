/**
 * A one-second memory of the browser proxy's admissions. A camera page is dozens of requests
 * with the same credential for the same handle; looking the credential, its user, the handle and
 * the device up in the store for each of them was a large share of the proxy's cost per request.
 * Only successful admissions of plain bearer-token or cookie-session requests that read (GET,
 * HEAD) are remembered, keyed by the handle, the socket address and the exact credential
 * headers; the per-request isolation checks still run every time. A revoked token, signed-out
 * session or removed device is refused again within `ttlMs`. Credentials that are audited on
 * every use (the admin key) or pinned to networks (partner keys), and licenses, are never
 * remembered.
 * @module
 */
import type { ProxyRequest } from "./browser_io.ts";
import type { Principal } from "../../tenancy/auth.ts";
import type { Authorized } from "../route.ts";

/** What an admission decided. */
export interface Admission {
  principal: Principal;
  target: Authorized;
}

const NEVER_CACHED = ["x-admin-api-key", "x-api-key", "x-license", "x-user-id"];

/** The cache key of a request, or null when its admission must not be remembered. */
export function admissionKey(req: ProxyRequest, handle: string): string | null {
  const method = (req.method ?? "GET").toUpperCase();
  if (method !== "GET" && method !== "HEAD") return null;
  if (NEVER_CACHED.some((h) => req.headers[h] !== undefined)) return null;
  const authz = req.headers.authorization ?? "";
  const cookie = req.headers.cookie ?? "";
  if (!authz && !cookie) return null;
  const xff = req.headers["x-forwarded-for"] ?? "";
  return [handle, req.socket.remoteAddress ?? "", xff, authz, cookie].join("\n");
}

/** Admissions remembered for `ttlMs`, at most `max` of them. */
export class AdmissionCache {
  #entries = new Map<string, { value: Admission; until: number }>();
  #ttlMs: number;
  #max: number;

  /** Creates an empty cache. */
  constructor(opts: { ttlMs?: number; max?: number } = {}) {
    this.#ttlMs = opts.ttlMs ?? 1_000;
    this.#max = opts.max ?? 10_000;
  }

  /** The admission remembered under `key`, if still fresh at `now`. */
  get(key: string, now: number): Admission | null {
    const e = this.#entries.get(key);
    if (!e) return null;
    if (e.until > now) return e.value;
    this.#entries.delete(key);
    return null;
  }

  /** Remembers an admission from `now` on. */
  set(key: string, value: Admission, now: number): void {
    if (this.#entries.size >= this.#max) this.#entries.clear();
    this.#entries.set(key, { value, until: now + this.#ttlMs });
  }
}

const caches = new WeakMap<object, AdmissionCache>();

/** The cache of one cloud (keyed by its store, which every proxy dependency set shares). */
export function admissionCacheOf(owner: object): AdmissionCache {
  let c = caches.get(owner);
  if (!c) caches.set(owner, c = new AdmissionCache());
  return c;
}
