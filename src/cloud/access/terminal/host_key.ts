/**
 * SSH host keys pinned on first use, as OpenSSH's known_hosts: the first key a device's SSH port
 * proves it holds is recorded (and audited); the same key later passes; a different one blocks the
 * session with a warning and, once the device proved it holds it, is kept as "offered" until an
 * admin accepts it (audited) — the browser terminal never silently trusts a changed key.
 * @module
 */
import { createHash } from "node:crypto";
import { AppError } from "../../../shared/errors.ts";
import type { SshHostKey, Store } from "../../store/store.ts";

/** A presented host key, as operators compare them. */
export interface PresentedKey {
  /** Key type from the blob (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`…). */
  algorithm: string;
  /** `SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** Fingerprint and type of an SSH public key blob (RFC 4253 §6.6 wire form). */
export function describeHostKey(blob: Uint8Array): PresentedKey {
  const digest = createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
  let algorithm = "unknown";
  if (blob.length >= 4) {
    const len = new DataView(blob.buffer, blob.byteOffset, blob.byteLength).getUint32(0);
    if (len > 0 && len <= 64 && 4 + len <= blob.length) {
      algorithm = new TextDecoder().decode(blob.subarray(4, 4 + len));
    }
  }
  return { algorithm, fingerprint: `SHA256:${digest}` };
}

/** Who connects where, for the pin and its audit entries. */
export interface HostKeyContext {
  tenantId: string;
  deviceId: string;
  port: number;
  actor: string;
  handle: string;
  now: number;
}

function auditor(store: Store, c: HostKeyContext) {
  return (action: string, detail: Record<string, unknown>) =>
    store.appendAudit({
      tenantId: c.tenantId,
      actor: c.actor,
      action,
      target: c.deviceId,
      detail: { port: c.port, handle: c.handle, ...detail },
    });
}

/** What the pin makes of a presented key, before the key exchange proves the device holds it. */
export type HostKeyVerdict =
  | { kind: "pinned" }
  | { kind: "first" }
  | { kind: "changed"; error: AppError };

/**
 * Checks a presented key against the pin: `pinned` for the pinned key, `first` when the device
 * has no pin yet — {@link pinHostKey} pins it once the key exchange has proven the device holds its
 * private key, as OpenSSH writes known_hosts only then (the key comes before the signature that
 * proves it: pinning it here let anyone who answered first, without the key, make the real
 * device's key "changed") — and `changed` for any other, with the `host_key_changed` error to end
 * the session with; {@link recordOfferedKey} records the offer once it is proven too (an offer of
 * a key the device could not sign with is noise an admin might accept).
 */
export async function verifyHostKey(
  store: Store,
  c: HostKeyContext,
  key: PresentedKey,
): Promise<HostKeyVerdict> {
  const pin = await store.getSshHostKey(c.tenantId, c.deviceId, c.port);
  if (!pin) return { kind: "first" };
  if (pin.fingerprint === key.fingerprint) return { kind: "pinned" };
  return {
    kind: "changed",
    error: new AppError(
      "host_key_changed",
      `${new AppError("host_key_changed").message} Pinned ${pin.algorithm} ${pin.fingerprint}, ` +
        `offered ${key.algorithm} ${key.fingerprint}.`,
    ),
  };
}

/**
 * Records a changed key the device proved it holds as offered (an admin may accept it) and
 * audits it; the pin itself is unchanged.
 */
export async function recordOfferedKey(
  store: Store,
  c: HostKeyContext,
  key: PresentedKey,
): Promise<void> {
  const pin = await store.getSshHostKey(c.tenantId, c.deviceId, c.port);
  if (!pin || pin.fingerprint === key.fingerprint) return;
  await store.putSshHostKey({
    ...pin,
    offeredAlgorithm: key.algorithm,
    offeredFingerprint: key.fingerprint,
    offeredAt: c.now,
  });
  await auditor(store, c)("device.hostkey.changed", {
    pinned: pin.fingerprint,
    offered: key.fingerprint,
    algorithm: key.algorithm,
  });
}

/**
 * Pins the first key a device proved it holds (the key exchange signed with it), and audits it;
 * nothing when a pin appeared meanwhile (another session pinned it first).
 */
export async function pinHostKey(
  store: Store,
  c: HostKeyContext,
  key: PresentedKey,
): Promise<void> {
  if (await store.getSshHostKey(c.tenantId, c.deviceId, c.port)) return;
  await store.putSshHostKey({
    tenantId: c.tenantId,
    deviceId: c.deviceId,
    port: c.port,
    algorithm: key.algorithm,
    fingerprint: key.fingerprint,
    pinnedAt: c.now,
    offeredAlgorithm: null,
    offeredFingerprint: null,
    offeredAt: null,
  });
  await auditor(store, c)("device.hostkey.first_seen", { ...key });
}

/**
 * Makes the key the device offered since the pin the new pin (the admin's "accept the new key").
 * Throws `conflict` when there is nothing offered, or a different key than the admin saw.
 */
export async function acceptOfferedKey(
  store: Store,
  c: Omit<HostKeyContext, "handle">,
  expected?: string,
): Promise<SshHostKey> {
  const pin = await store.getSshHostKey(c.tenantId, c.deviceId, c.port);
  if (!pin?.offeredFingerprint || !pin.offeredAlgorithm) {
    throw new AppError("conflict", "the device has not offered a different host key");
  }
  if (expected !== undefined && expected !== pin.offeredFingerprint) {
    throw new AppError("conflict", "the device offered another key since; reload and check it");
  }
  const next: SshHostKey = {
    ...pin,
    algorithm: pin.offeredAlgorithm,
    fingerprint: pin.offeredFingerprint,
    pinnedAt: c.now,
    offeredAlgorithm: null,
    offeredFingerprint: null,
    offeredAt: null,
  };
  await store.putSshHostKey(next);
  await store.appendAudit({
    tenantId: c.tenantId,
    actor: c.actor,
    action: "device.hostkey.accept",
    target: c.deviceId,
    detail: { port: c.port, previous: pin.fingerprint, accepted: next.fingerprint },
  });
  return next;
}
