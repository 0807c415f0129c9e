/**
 * One audit entry per refused mTLS handshake that presented a certificate, for both
 * certificate-checking listeners (agent control on the agent CA, internal on the internal CA): a
 * certificate of the other CA never gets a byte through, and ops see who tried.
 * @module
 */
import type { Logger } from "../../shared/log.ts";
import { type Clock, systemClock } from "../../shared/clock.ts";
import type { Store } from "../store/store.ts";
import { auditAnonymousRefusal } from "../tenancy/anonymous_audit.ts";

/** Records a handshake refused by `listener` ("control" or "internal") of node `node`. */
export function auditRefusedCertificate(
  d: { store: Store; log: Logger; node: string; clock?: Clock },
  listener: "control" | "internal",
  remote: string | undefined,
  err: Error,
): void {
  // A client that offers no certificate at all (the agent's Happy Eyeballs probe, a scanner)
  // gets the same refusal, unaudited: the audit is for certificates of the wrong CA.
  if (/no certificate/i.test(err.message)) return;
  const from = remote ?? "unknown";
  d.log.warn({ remote: from, err: err.message }, `${listener} listener refused a certificate`);
  // Sampled per address like every identity-less refusal (a scanner must not flood the log).
  if (!auditAnonymousRefusal(d.store, `ip:${from}`, (d.clock ?? systemClock).now())) return;
  d.store.appendAudit({
    tenantId: null,
    actor: `ip:${from}`,
    action: `${listener}.reject_certificate`,
    target: d.node,
    detail: { reason: err.message },
  }).catch(() => {});
}
