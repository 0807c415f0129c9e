/**
 * Device credentials held by the cloud (optional per device), so the browser proxy and the RTSP
 * gateway can answer a camera's own Basic/Digest challenge, and the browser terminal can log in
 * to an SSH device with a password or a private key, while operators never see either. Written through the API, stored only sealed — AES-256-GCM under a key derived from
 * the cloud secret (tenancy/cloud_secret.ts), a fresh 96-bit IV per write, and the tenant and
 * device ids as associated data so a sealed value copied onto another device does not open —
 * never returned by any API, and every use is audited (`device.credentials.use`).
 *
 * Sealed form: `v1.<key id>.<iv>.<ciphertext+tag>` (base64url), opaque to the store.
 * @module
 */
import { z } from "zod";
import { decodeBase64Url, encodeBase64Url } from "../../shared/encoding.ts";
import type { Store } from "../store/store.ts";
import type { DeviceCredentials } from "../access/device_auth.ts";
import type { CloudSecret } from "./cloud_secret.ts";

const plaintext = z.object({ u: z.string(), p: z.string(), k: z.string().optional() });

/** A sealed value that does not open here (other key, tampered, malformed). */
export class SealError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "SealError";
  }
}

/** Seals and opens device credentials with the cloud secret. */
export class DeviceSecrets {
  #key: CryptoKey;
  #keyId: string;

  private constructor(key: CryptoKey, keyId: string) {
    this.#key = key;
    this.#keyId = keyId;
  }

  /** Derives the credentials key from the cloud secret. */
  static async create(secret: CloudSecret): Promise<DeviceSecrets> {
    return new DeviceSecrets(await secret.aesKey("device-credentials-v1"), secret.keyId);
  }

  /** Encrypts credentials for one device of one tenant. */
  async seal(tenantId: string, deviceId: string, c: DeviceCredentials): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = new TextEncoder().encode(
      JSON.stringify({ u: c.username, p: c.password, k: c.privateKey }),
    );
    const ct = new Uint8Array(
      await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: aad(tenantId, deviceId) },
        this.#key,
        data,
      ),
    );
    return `v1.${this.#keyId}.${encodeBase64Url(iv)}.${encodeBase64Url(ct)}`;
  }

  /** Decrypts what {@linkcode seal} produced for the same tenant and device; SealError otherwise. */
  async open(tenantId: string, deviceId: string, sealed: string): Promise<DeviceCredentials> {
    const [v, keyId, iv, ct] = sealed.split(".");
    if (v !== "v1" || !iv || !ct) throw new SealError("not a sealed credential");
    if (keyId !== this.#keyId) {
      throw new SealError(
        `device credentials were sealed with cloud secret ${keyId}, this node has ${this.#keyId} ` +
          "(every node must share the same secret key file)",
      );
    }
    try {
      const plain = await crypto.subtle.decrypt(
        {
          name: "AES-GCM",
          iv: decodeBase64Url(iv) as Uint8Array<ArrayBuffer>,
          additionalData: aad(tenantId, deviceId),
        },
        this.#key,
        decodeBase64Url(ct) as Uint8Array<ArrayBuffer>,
      );
      const p = plaintext.parse(JSON.parse(new TextDecoder().decode(plain)));
      return p.k === undefined
        ? { username: p.u, password: p.p }
        : { username: p.u, password: p.p, privateKey: p.k };
    } catch {
      throw new SealError(
        "device credentials do not open (tampered, or sealed for another device)",
      );
    }
  }
}

function aad(tenantId: string, deviceId: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(`nanodems device credentials\n${tenantId}\n${deviceId}`);
}

/** Who uses credentials, for the audit entry. */
export interface CredentialUse {
  tenantId: string;
  deviceId: string;
  /** The operator whose request made the cloud answer the device's challenge. */
  actor: string;
  /** The access path: "rtsp", "proxy". */
  via: string;
  /** The handle used. */
  handle: string;
}

/**
 * Loads, opens and audits the credentials of a device for one use; null when the device has
 * none. A value that does not open (another node's key) is logged by the caller: it throws.
 */
export async function useDeviceCredentials(
  store: Store,
  secrets: DeviceSecrets,
  use: CredentialUse,
): Promise<DeviceCredentials | null> {
  const rec = await store.getDeviceCredentials(use.tenantId, use.deviceId);
  if (!rec) return null;
  const creds = await secrets.open(use.tenantId, use.deviceId, rec.sealed);
  await store.appendAudit({
    tenantId: use.tenantId,
    actor: use.actor,
    action: "device.credentials.use",
    target: use.deviceId,
    detail: { via: use.via, handle: use.handle },
  });
  return creds;
}
