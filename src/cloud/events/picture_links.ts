/**
 * Links to an alert's picture that work without signing in, for what a webhook receiver passes
 * on (a chat message that shows the picture, a ticket): `…/api/event-snapshots/{id}.jpg?t=&exp=
 * &sig=`, an HMAC-SHA-256 (a key derived from the cloud secret, so every node verifies what any
 * node signed) over the tenant, the picture and the expiry. A link opens that one picture only,
 * until it expires (PICTURE_LINK_MS); anyone who holds it can, which is why it is short-lived.
 * @module
 */
import type { CloudSecret } from "../tenancy/cloud_secret.ts";
import { decodeBase64Url, encodeBase64Url } from "../../shared/encoding.ts";

/** How long a picture link works. */
export const PICTURE_LINK_MS = 24 * 3_600_000;

/** The query of a picture link. */
export interface PictureLinkQuery {
  t: string;
  exp: string;
  sig: string;
}

/** Signs and verifies picture links. */
export class PictureLinks {
  #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Derives the signing key from the cloud secret. */
  static async create(secret: CloudSecret): Promise<PictureLinks> {
    return new PictureLinks(await secret.hmacKey("picture-link-v1"));
  }

  #text(tenantId: string, id: string, expSec: number): Uint8Array<ArrayBuffer> {
    return new TextEncoder().encode(`nanodems picture link v1\n${tenantId}\n${id}\n${expSec}`);
  }

  /** The query (`t=…&exp=…&sig=…`) that opens picture `id` of `tenantId` until `expiresAt`. */
  async sign(tenantId: string, id: string, expiresAt: number): Promise<string> {
    const expSec = Math.floor(expiresAt / 1000);
    const mac = await crypto.subtle.sign("HMAC", this.#key, this.#text(tenantId, id, expSec));
    return new URLSearchParams({
      t: tenantId,
      exp: String(expSec),
      sig: encodeBase64Url(new Uint8Array(mac)),
    }).toString();
  }

  /** Whether `q` opens picture `id` at `now` (the signature checked in constant time). */
  async verify(id: string, q: PictureLinkQuery, now: number): Promise<boolean> {
    if (!/^[0-9]{1,12}$/.test(q.exp) || Number(q.exp) * 1000 <= now) return false;
    let sig: Uint8Array<ArrayBuffer>;
    try {
      sig = new Uint8Array(decodeBase64Url(q.sig));
    } catch {
      return false;
    }
    return await crypto.subtle.verify(
      "HMAC",
      this.#key,
      sig,
      this.#text(q.t, id, Number(q.exp)),
    );
  }
}
