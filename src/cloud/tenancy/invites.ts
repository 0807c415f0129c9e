/**
 * One-time password links: an admin invites a user (or resets a password) and hands over a link
 * `/invite/{token}`; whoever opens it sets the password once. The token is shown once and stored
 * only as its SHA-256; a link lives 7 days and a new one ends the user's older ones when used.
 * @module
 */
import { hashToken, mintToken } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";

/** How long an invite or reset link works. */
export const INVITE_TTL_MS = 7 * 24 * 3600e3;

/** Mints a link for a user of `tenantId`; returns the URL path to hand over and its expiry. */
export async function mintInvite(
  store: Store,
  o: { tenantId: string; userId: string; now: number },
): Promise<{ path: string; expiresAt: number }> {
  const token = mintToken("inv");
  const expiresAt = o.now + INVITE_TTL_MS;
  await store.createUserInvite({
    hash: await hashToken(token),
    tenantId: o.tenantId,
    userId: o.userId,
    expiresAt,
  });
  return { path: `/invite/${token}`, expiresAt };
}

/** Whether `text` has the shape of an invite token. */
export function isInviteToken(text: string): boolean {
  return /^inv_[A-Za-z0-9_-]{43}$/.test(text);
}
