/**
 * Per-handle origins for the browser proxy (`--proxy-domain`): with it, each handle's device UI
 * is served at its own origin, `http(s)://{label}.{proxy domain}/`, so the browser itself keeps a
 * device page away from the cloud's origin and from every other device — no shared cookies, no
 * same-origin fetch, frames or windows — which path-prefix mode can only approximate.
 *
 * Host names are case-insensitive, handles are not (base64url), so the label is the handle's
 * bytes in hex: `p` + 32 hex digits (legacy 12-hex handles: `l` + the hex). The cloud's sign-in
 * cookie never reaches a device origin; instead the cloud's own `/c/{h}/…` hands the browser over
 * with a grant — signed, one-time, valid 60 s, bound to the credential that was checked — and the
 * device origin turns it into its own host-only cookie `nc_dev` (signed; the credential behind it
 * is re-checked on every request, so revoking it ends access there too).
 * @module
 */
import { decodeBase64Url, encodeBase64Url, encodeHex } from "../../../shared/encoding.ts";
import type { CloudSecret } from "../../tenancy/cloud_secret.ts";
import type { Principal } from "../../tenancy/auth.ts";
import type { Store } from "../../store/store.ts";
import { nodeRequestOverHttps } from "../../api/browser_scheme.ts";

/** The device origin's cookie. */
export const DEVICE_COOKIE = "nc_dev";
/** Where a device origin takes the grant. */
export const GRANT_PATH = "/__nc/grant";
/** How long a grant is valid. */
export const GRANT_TTL_MS = 60_000;
/** How long a device-origin cookie is valid (the credential behind it is re-checked anyway). */
export const DEVICE_COOKIE_TTL_MS = 12 * 3600_000;

/** The DNS label of a handle. */
export function handleToLabel(handle: string): string | null {
  if (/^h-[0-9a-f]{12}$/.test(handle)) return `l${handle.slice(2)}`;
  if (!/^h-[A-Za-z0-9_-]{22}$/.test(handle)) return null;
  try {
    return `p${encodeHex(decodeBase64Url(handle.slice(2)))}`;
  } catch {
    return null;
  }
}

/** The handle of a DNS label (any case), or null. */
export function labelToHandle(label: string): string | null {
  const l = label.toLowerCase();
  if (/^l[0-9a-f]{12}$/.test(l)) return `h-${l.slice(1)}`;
  const m = /^p([0-9a-f]{32})$/.exec(l);
  if (!m) return null;
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(m[1].slice(i * 2, i * 2 + 2), 16);
  return `h-${encodeBase64Url(bytes)}`;
}

/** The handle a Host header names under the proxy domain, or null for any other host. */
export function handleOfHost(host: string | undefined, domain: string | null): string | null {
  if (!host || !domain) return null;
  const name = host.replace(/:\d+$/, "").toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return null;
  const label = name.slice(0, -suffix.length);
  return label.includes(".") ? null : labelToHandle(label);
}

/** What a grant and a device cookie carry: enough to rebuild and re-check the principal. */
export interface OriginClaims {
  handle: string;
  /** Expiry, epoch ms. */
  exp: number;
  /** One-time id (grants only). */
  jti?: string;
  principal: Pick<
    Principal,
    | "kind"
    | "tenantId"
    | "userId"
    | "role"
    | "actor"
    | "auditUser"
    | "sessionHash"
    | "cliSessionHash"
    | "credentialHash"
    | "siteIds"
  >;
}

/** Signs and checks grants and device cookies with a key derived from the cloud secret. */
export class OriginSigner {
  #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Derives the key. */
  static async create(secret: CloudSecret): Promise<OriginSigner> {
    return new OriginSigner(await secret.hmacKey("device-origin-v1"));
  }

  /** A signed token for `claims` of a given kind ("grant" or "cookie"). */
  async sign(kind: "grant" | "cookie", claims: OriginClaims): Promise<string> {
    const body = encodeBase64Url(new TextEncoder().encode(JSON.stringify(claims)));
    const mac = await crypto.subtle.sign(
      "HMAC",
      this.#key,
      new TextEncoder().encode(`${kind}.${body}`),
    );
    return `${body}.${encodeBase64Url(new Uint8Array(mac))}`;
  }

  /** The claims of a token of `kind` if its signature holds and it has not expired; else null. */
  async verify(kind: "grant" | "cookie", token: string, now: number): Promise<OriginClaims | null> {
    const [body, mac, extra] = token.split(".");
    if (!body || !mac || extra !== undefined || token.length > 4096) return null;
    let ok = false;
    try {
      ok = await crypto.subtle.verify(
        "HMAC",
        this.#key,
        new Uint8Array(decodeBase64Url(mac)),
        new TextEncoder().encode(`${kind}.${body}`),
      );
    } catch {
      return null;
    }
    if (!ok) return null;
    try {
      const claims = JSON.parse(new TextDecoder().decode(decodeBase64Url(body))) as OriginClaims;
      return typeof claims.exp === "number" && claims.exp > now ? claims : null;
    } catch {
      return null;
    }
  }

  /**
   * Consumes a grant: valid, unexpired and never used before on any node — its use is recorded
   * in the store `once` (a rate window of one that lasts until the grant expires), so a grant
   * replayed to a sibling node behind the load balancer is refused as on the node that took it.
   */
  async consumeGrant(
    token: string,
    now: number,
    once: Pick<Store, "hitRateWindow">,
  ): Promise<OriginClaims | null> {
    const claims = await this.verify("grant", token, now);
    if (!claims?.jti) return null;
    const uses = await once.hitRateWindow(`origin-grant:${claims.jti}`, claims.exp - now);
    return uses === 1 ? claims : null;
  }
}

/** The claims' principal as a Principal (re-checked by the caller before use). */
export function principalOf(c: OriginClaims): Principal {
  return { ...c.principal };
}

/** The part of a principal that travels in a grant or cookie. */
export function claimsPrincipal(p: Principal): OriginClaims["principal"] {
  return {
    kind: p.kind,
    tenantId: p.tenantId,
    userId: p.userId,
    role: p.role,
    actor: p.actor,
    auditUser: p.auditUser,
    sessionHash: p.sessionHash,
    cliSessionHash: p.cliSessionHash,
    credentialHash: p.credentialHash,
    siteIds: p.siteIds,
  };
}

/** The device origin's base URL for a request that reached the cloud's origin. */
export function deviceOriginUrl(
  req: { headers: Record<string, string | string[] | undefined>; socket: unknown },
  domain: string,
  handle: string,
  publicUrl: string,
): string | null {
  const label = handleToLabel(handle);
  if (!label) return null;
  const host = String(req.headers.host ?? "");
  const port = /:(\d+)$/.exec(host)?.[1];
  const secure = nodeRequestOverHttps(req, publicUrl, domain);
  return `${secure ? "https" : "http"}://${label}.${domain}${port ? `:${port}` : ""}`;
}

/**
 * The hand-over from the cloud's `/c/{h}/…` to the device origin: a URL carrying a fresh grant
 * for this principal and handle, which the device origin exchanges for its own cookie.
 */
export async function handOver(
  d: {
    origins?: { domain: string; signer: OriginSigner };
    clock: { now(): number };
    publicUrl: () => string;
  },
  req: { headers: Record<string, string | string[] | undefined>; socket: unknown },
  principal: Principal,
  handle: string,
  devicePath: string,
): Promise<string | null> {
  if (!d.origins) return null;
  const base = deviceOriginUrl(req, d.origins.domain, handle, d.publicUrl());
  if (!base) return null;
  const grant = await d.origins.signer.sign("grant", {
    handle,
    exp: d.clock.now() + GRANT_TTL_MS,
    jti: encodeBase64Url(crypto.getRandomValues(new Uint8Array(12))),
    principal: claimsPrincipal(principal),
  });
  return `${base}${GRANT_PATH}?g=${grant}&next=${encodeURIComponent(devicePath)}`;
}
