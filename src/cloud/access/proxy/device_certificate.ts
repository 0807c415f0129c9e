/**
 * Forensic record of HTTPS device certificates. Cameras present self-signed certificates, so the
 * proxy cannot verify them; instead the first handshake per handle is logged and audited
 * (`device.certificate`, event `first_seen`, with subject and SHA-256 fingerprint), and a later
 * handshake with a different fingerprint is logged as a warning and audited (event `changed`,
 * with the previous fingerprint). The audit log is the record, so every cloud node sees the same
 * history; a per-node cache keeps the lookup off the hot path.
 *
 * What answers at a device's port is on the customer's LAN, and a hostile one can present a new
 * certificate (or alternate two) on every connection. So a node audits at most
 * `CHANGES_PER_HOUR` changes per handle in any hour — each also an event and an alert — and
 * counts the rest: the next change it audits says how many went unrecorded before it
 * (`unrecorded`), and the first one it holds back is logged as a warning.
 * @module
 */
import { type Clock, systemClock } from "../../../shared/clock.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Store } from "../../store/store.ts";
import type { Authorized } from "../route.ts";

/** The audit action of certificate events. */
export const CERTIFICATE_ACTION = "device.certificate";

/** Changes of one handle's certificate a node audits one by one in any hour. */
export const CHANGES_PER_HOUR = 6;

const HOUR_MS = 3_600_000;

/** What a node remembers of one handle's certificate. */
interface Seen {
  fingerprint: string;
  /** When the changes audited in the last hour were (oldest first). */
  audited: number[];
  /** Changes seen since the last audited entry and not audited. */
  unrecorded: number;
}

/** Builds the onCertificate callback of the device connection pool. */
export function deviceCertificateRecorder(
  d: { store: Store; log: Logger; clock?: Clock },
): (a: Authorized, subject: string, fingerprint: string) => Promise<void> {
  const clock = d.clock ?? systemClock;
  const known = new Map<string, Seen>();
  return async (a, subject, fingerprint) => {
    const handleId = a.handle.id;
    let seen = known.get(handleId);
    if (seen?.fingerprint === fingerprint) return;
    if (!seen) {
      const [last] = await d.store.listAudit({
        tenantId: a.handle.tenantId,
        action: CERTIFICATE_ACTION,
        target: handleId,
        limit: 1,
      });
      const recorded = last?.detail.fingerprint;
      // Another handshake of the same handle may have got here first while this one looked.
      seen = known.get(handleId);
      if (!seen && typeof recorded === "string") {
        seen = { fingerprint: recorded, audited: [], unrecorded: 0 };
        known.set(handleId, seen);
      }
      if (seen?.fingerprint === fingerprint) return;
    }
    const previous = seen?.fingerprint ?? null;
    const detail: Record<string, unknown> = {
      event: previous === null ? "first_seen" : "changed",
      subject,
      fingerprint,
      device: a.device.id,
      host: a.device.host,
      port: a.handle.port,
      ...(previous ? { previous } : {}),
    };
    if (!seen) {
      known.set(handleId, { fingerprint, audited: [], unrecorded: 0 });
      d.log.info({ handle: handleId, ...detail }, "device certificate first seen");
    } else {
      seen.fingerprint = fingerprint;
      const now = clock.now();
      while (seen.audited.length && seen.audited[0] <= now - HOUR_MS) seen.audited.shift();
      if (seen.audited.length >= CHANGES_PER_HOUR) {
        if (seen.unrecorded++ === 0) {
          d.log.warn(
            { handle: handleId, ...detail, limit: CHANGES_PER_HOUR },
            "device certificate keeps changing: further changes this hour are counted, " +
              "not audited one by one",
          );
        }
        return;
      }
      seen.audited.push(now);
      if (seen.unrecorded) detail.unrecorded = seen.unrecorded;
      seen.unrecorded = 0;
      d.log.warn({ handle: handleId, ...detail }, "device certificate changed");
    }
    await d.store.appendAudit({
      tenantId: a.handle.tenantId,
      actor: "system",
      action: CERTIFICATE_ACTION,
      target: handleId,
      detail,
    });
  };
}
