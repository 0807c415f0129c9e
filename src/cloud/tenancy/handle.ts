/**
 * Handles: the opaque routing tokens of public URLs, one per (device, port). `h-` + 22
 * characters of URL-safe base64 (128 random bits); legacy `h-` + 12 hex (48 bits) still resolve
 * until they expire. A handle records its tenant, so possession of the string is not enough.
 * @module
 */
import { encodeBase64Url } from "../../shared/encoding.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Handle, Store } from "../store/store.ts";

const CURRENT = /^h-[A-Za-z0-9_-]{22}$/;
const LEGACY = /^h-[0-9a-f]{12}$/;

/** Mints a new handle string (128 random bits). */
export function newHandleId(): string {
  return `h-${encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)))}`;
}

/** True when `text` has the shape of a current or legacy handle. */
export function isHandleShape(text: string): boolean {
  return CURRENT.test(text) || LEGACY.test(text);
}

/** True when the handle may be used at `now` (not revoked, not expired). */
export function isLive(h: Handle, now: number): boolean {
  return h.revokedAt === null && (h.expiresAt === null || h.expiresAt > now);
}

/**
 * Returns the live handle of (device, port), minting one when there is none; `onMint` hears of
 * every new one (to audit it).
 */
export async function ensureHandle(
  store: Store,
  clock: Clock,
  d: { tenantId: string; siteId: string; deviceId: string; port: number },
  onMint?: (h: Handle) => Promise<unknown>,
): Promise<Handle> {
  const existing = await store.findHandle(d.deviceId, d.port);
  if (existing) return existing;
  const h = await store.createHandle({
    id: newHandleId(),
    tenantId: d.tenantId,
    siteId: d.siteId,
    deviceId: d.deviceId,
    port: d.port,
    agentId: null,
    createdAt: clock.now(),
    expiresAt: null,
    revokedAt: null,
  });
  await onMint?.(h);
  return h;
}
