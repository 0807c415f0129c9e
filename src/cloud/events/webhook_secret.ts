/**
 * Webhook signing secrets. The cloud must sign every delivery, so it cannot keep only a hash of
 * the secret; instead it keeps nothing secret at all: the secret is HMAC-SHA-256 of the tenant,
 * the webhook and a random per-webhook seed under a key derived from the cloud secret
 * (tenancy/cloud_secret.ts). The database alone cannot sign, every node (sharing the cloud
 * secret) derives the same secret, and the secret is shown once, at creation.
 * @module
 */
import { encodeBase64Url } from "../../shared/encoding.ts";
import type { CloudSecret } from "../tenancy/cloud_secret.ts";

/** Derives webhook signing secrets. */
export class WebhookSecrets {
  readonly #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Derives the key from the cloud secret. */
  static async create(secret: CloudSecret): Promise<WebhookSecrets> {
    return new WebhookSecrets(await secret.hmacKey("webhook-secret-v1"));
  }

  /** A fresh random seed for a new webhook. */
  static seed(): string {
    return encodeBase64Url(crypto.getRandomValues(new Uint8Array(16)));
  }

  /** The signing secret of a webhook: `whsec_` + 43 base64url characters. */
  async secret(w: { tenantId: string; id: string; secretSeed: string }): Promise<string> {
    const mac = await crypto.subtle.sign(
      "HMAC",
      this.#key,
      new TextEncoder().encode(`nanodems webhook\n${w.tenantId}\n${w.id}\n${w.secretSeed}`),
    );
    return `whsec_${encodeBase64Url(new Uint8Array(mac))}`;
  }
}
