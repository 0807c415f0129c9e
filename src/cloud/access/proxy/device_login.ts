/**
 * The browser proxy answering a camera's password prompt itself when the cloud holds the
 * device's credentials, so operators never see camera passwords. A 401 with Basic or Digest from
 * the device is answered (shared answerer in ../device_auth.ts) and the request resent; later
 * requests to the same handle carry the answer up front, so a page of fifty images costs one
 * challenge, not fifty. Every device connection that carries the credentials is audited
 * (`device.credentials.use`, via "proxy"). A browser that sends its own Authorization is left
 * alone, and a request whose body was already streamed is not replayed.
 * @module
 */
import { ChallengeAnswerer } from "../device_auth.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../../tenancy/device_secrets.ts";
import type { Store } from "../../store/store.ts";
import type { Principal } from "../../tenancy/auth.ts";
import type { Authorized } from "../route.ts";
import type { ResponseHead } from "./http1.ts";
import type { DeviceConn } from "./device_conn.ts";

/** Per-handle answerers of the cloud-held credentials. */
export class DeviceLogin {
  #answerers = new Map<string, { answerer: ChallengeAnswerer; sealed: string }>();
  #audited = new WeakSet<DeviceConn>();
  #d: { store: Store; secrets: DeviceSecrets };

  /** Creates the cache. */
  constructor(d: { store: Store; secrets: DeviceSecrets }) {
    this.#d = d;
  }

  async #audit(a: Authorized, p: Principal, dc: DeviceConn): Promise<void> {
    if (this.#audited.has(dc)) return;
    this.#audited.add(dc);
    await this.#d.store.appendAudit({
      tenantId: a.handle.tenantId,
      actor: p.actor,
      action: "device.credentials.use",
      target: a.device.id,
      detail: { via: "proxy", handle: a.handle.id },
    });
  }

  /** The Authorization to send up front on this handle, if the cloud answered it before. */
  async preemptive(
    a: Authorized,
    p: Principal,
    dc: DeviceConn,
    method: string,
    uri: string,
  ): Promise<string | null> {
    const cached = this.#answerers.get(a.handle.id);
    if (!cached) return null;
    // Credentials changed or removed since: forget the answer at once.
    const rec = await this.#d.store.getDeviceCredentials(a.handle.tenantId, a.device.id);
    if (rec?.sealed !== cached.sealed) {
      this.#answerers.delete(a.handle.id);
      return null;
    }
    const value = cached.answerer.authorize(method, uri);
    if (value) await this.#audit(a, p, dc);
    return value;
  }

  /** After a device's 401: the Authorization that answers it, or null when we cannot. */
  async answer(
    a: Authorized,
    p: Principal,
    dc: DeviceConn,
    head: ResponseHead,
    method: string,
    uri: string,
  ): Promise<string | null> {
    const challenges = head.headers.filter(([k]) => k.toLowerCase() === "www-authenticate")
      .map(([, v]) => v);
    if (!challenges.length) return null;
    let answerer = this.#answerers.get(a.handle.id)?.answerer;
    if (!answerer) {
      const rec = await this.#d.store.getDeviceCredentials(a.handle.tenantId, a.device.id);
      if (!rec) return null;
      const creds = await useDeviceCredentials(this.#d.store, this.#d.secrets, {
        tenantId: a.handle.tenantId,
        deviceId: a.device.id,
        actor: p.actor,
        via: "proxy",
        handle: a.handle.id,
      });
      if (!creds) return null;
      this.#audited.add(dc);
      answerer = new ChallengeAnswerer(creds);
      if (this.#answerers.size > 10_000) this.#answerers.clear();
      this.#answerers.set(a.handle.id, { answerer, sealed: rec.sealed });
    }
    if (!answerer.challenged(challenges)) {
      // Refused with the same nonce (wrong password): stop answering until the next prompt.
      this.#answerers.delete(a.handle.id);
      return null;
    }
    await this.#audit(a, p, dc);
    return answerer.authorize(method, uri);
  }

  /** Forgets what was learned for a device (its credentials changed). */
  forget(handleId: string): void {
    this.#answerers.delete(handleId);
  }
}
