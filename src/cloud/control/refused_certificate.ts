/**
 * One audit entry per refused mTLS handshake, for both certificate-checking listeners (agent
 * control on the agent CA, internal on the internal CA): a certificate of the other CA — or
 * none — never gets a byte through, and ops see who tried.
 * @module
 */
import type { Logger } from "../../shared/log.ts";
import type { Store } from "../store/store.ts";

/** Records a handshake refused by `listener` ("control" or "internal") of node `node`. */
export function auditRefusedCertificate(
  d: { store: Store; log: Logger; node: string },
  listener: "control" | "internal",
  remote: string | undefined,
  err: Error,
): void {
  const from = remote ?? "unknown";
  d.log.warn({ remote: from, err: err.message }, `${listener} listener refused a certificate`);
  d.store.appendAudit({
    tenantId: null,
    actor: `ip:${from}`,
    action: `${listener}.reject_certificate`,
    target: d.node,
    detail: { reason: err.message },
  }).catch(() => {});
}
