/**
 * Forensic record of HTTPS device certificates. Cameras present self-signed certificates, so the
 * proxy cannot verify them; instead the first handshake per handle is logged and audited
 * (`device.certificate`, event `first_seen`, with subject and SHA-256 fingerprint), and a later
 * handshake with a different fingerprint is logged as a warning and audited (event `changed`,
 * with the previous fingerprint). The audit log is the record, so every cloud node sees the same
 * history; a per-node cache keeps the lookup off the hot path.
 * @module
 */
import type { Logger } from "../../../shared/log.ts";
import type { Store } from "../../store/store.ts";
import type { Authorized } from "../route.ts";

/** The audit action of certificate events. */
export const CERTIFICATE_ACTION = "device.certificate";

/** Builds the onCertificate callback of the device connection pool. */
export function deviceCertificateRecorder(
  d: { store: Store; log: Logger },
): (a: Authorized, subject: string, fingerprint: string) => Promise<void> {
  const known = new Map<string, string>();
  return async (a, subject, fingerprint) => {
    const handleId = a.handle.id;
    if (known.get(handleId) === fingerprint) return;
    let previous = known.get(handleId) ?? null;
    if (previous === null) {
      const [last] = await d.store.listAudit({
        tenantId: a.handle.tenantId,
        action: CERTIFICATE_ACTION,
        target: handleId,
        limit: 1,
      });
      previous = (last?.detail.fingerprint as string | undefined) ?? null;
    }
    known.set(handleId, fingerprint);
    if (previous === fingerprint) return;
    const event = previous === null ? "first_seen" : "changed";
    const detail = {
      event,
      subject,
      fingerprint,
      device: a.device.id,
      host: a.device.host,
      port: a.handle.port,
      ...(previous ? { previous } : {}),
    };
    if (event === "changed") {
      d.log.warn({ handle: handleId, ...detail }, "device certificate changed");
    } else d.log.info({ handle: handleId, ...detail }, "device certificate first seen");
    await d.store.appendAudit({
      tenantId: a.handle.tenantId,
      actor: "system",
      action: CERTIFICATE_ACTION,
      target: handleId,
      detail,
    });
  };
}
