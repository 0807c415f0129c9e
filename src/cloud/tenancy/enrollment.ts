/**
 * Minting a site's one-shot enrollment token, in one place for every way one is handed out (the
 * site page's button, the per-site installers, the admin CLI): only its hash is stored, the
 * mint is audited, and the technician gets the join token `enr_<secret>.<CA pin>`.
 * @module
 */
import { formatJoinToken, hashToken, mintToken } from "../../shared/crypto/token.ts";
import type { Store } from "../store/store.ts";

/** A freshly minted join token (shown once) and when it expires (ms since the epoch). */
export interface MintedEnrollmentToken {
  token: string;
  expiresAt: number;
}

/** Mints, stores (hashed) and audits a one-shot enrollment token for a site. */
export async function mintEnrollmentToken(store: Store, o: {
  tenantId: string;
  siteId: string;
  actor: string;
  caPin: string;
  ttlMs: number;
  now: number;
  /** Extra audit detail, e.g. which installer carried the token. */
  detail?: Record<string, unknown>;
}): Promise<MintedEnrollmentToken> {
  const secret = mintToken("enr");
  const expiresAt = o.now + o.ttlMs;
  await store.createEnrollmentToken({
    hash: await hashToken(secret),
    tenantId: o.tenantId,
    siteId: o.siteId,
    createdAt: o.now,
    expiresAt,
  });
  await store.appendAudit({
    tenantId: o.tenantId,
    actor: o.actor,
    action: "enrollment_token.mint",
    target: o.siteId,
    detail: { expiresAt, ...o.detail },
  });
  return { token: formatJoinToken(secret, o.caPin), expiresAt };
}
