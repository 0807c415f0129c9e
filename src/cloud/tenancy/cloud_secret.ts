/**
 * The cloud's one symmetric secret: 256 random bits in a key file (created 0600 on first start,
 * default `<data dir>/cloud-secret.key`), from which purpose-bound keys are derived with HKDF —
 * AES-256-GCM for device credentials held at rest, HMAC-SHA-256 for signed RTSP URLs. One file,
 * so a multi-node cloud shares exactly one secret: every node must read the same file (mount
 * the same secret, or copy it before the second node's first start); a node with another key
 * cannot open the stored device credentials nor verify URLs minted elsewhere, and says so.
 * @module
 */
import { assertPrivate, writeSecretFile } from "../../shared/crypto/files.ts";
import { decodeBase64Url, encodeBase64Url, encodeHex } from "../../shared/encoding.ts";

/** The key file's name in the data directory (when no other path is configured). */
export const SECRET_FILE = "cloud-secret.key";

/** What keys are derived for; each purpose gets its own key. */
export type SecretPurpose =
  | "device-credentials-v1"
  | "rtsp-url-v1"
  | "device-origin-v1"
  | "webhook-secret-v1"
  | "picture-link-v1";

/** The loaded secret. */
export interface CloudSecret {
  /** A short, non-secret fingerprint of the key (to tell which key sealed what). */
  keyId: string;
  /** AES-256-GCM key for `purpose`. */
  aesKey(purpose: SecretPurpose): Promise<CryptoKey>;
  /** HMAC-SHA-256 key for `purpose`. */
  hmacKey(purpose: SecretPurpose): Promise<CryptoKey>;
}

/** Builds a CloudSecret from 32 key bytes. */
export async function cloudSecretFrom(raw: Uint8Array): Promise<CloudSecret> {
  if (raw.byteLength !== 32) throw new Error("the cloud secret must be 32 bytes");
  const bytes = new Uint8Array(raw) as Uint8Array<ArrayBuffer>;
  const master = await crypto.subtle.importKey("raw", bytes, "HKDF", false, ["deriveKey"]);
  const id = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new Uint8Array([...new TextEncoder().encode("nanodems key id\n"), ...bytes]),
    ),
  );
  const derive = (purpose: SecretPurpose, alg: AesKeyGenParams | HmacKeyGenParams) =>
    crypto.subtle.deriveKey(
      {
        name: "HKDF",
        hash: "SHA-256",
        salt: new Uint8Array(0),
        info: new TextEncoder().encode(`nanodems ${purpose}`),
      },
      master,
      alg,
      false,
      alg.name === "AES-GCM" ? ["encrypt", "decrypt"] : ["sign", "verify"],
    );
  return {
    keyId: encodeHex(id.subarray(0, 4)),
    aesKey: (p) => derive(p, { name: "AES-GCM", length: 256 }),
    hmacKey: (p) => derive(p, { name: "HMAC", hash: "SHA-256", length: 256 }),
  };
}

/**
 * Reads the key file, creating it (0600, 256 random bits, base64url text) when it does not
 * exist. Refuses a file readable by group or others, and a file that is not a 32-byte key.
 */
export async function loadCloudSecret(path: string): Promise<CloudSecret> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    text = encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)));
    await writeSecretFile(path, `${text}\n`);
  }
  await assertPrivate(path);
  let raw: Uint8Array;
  try {
    raw = decodeBase64Url(text.trim());
  } catch {
    raw = new Uint8Array(0);
  }
  if (raw.byteLength !== 32) {
    throw new Error(`${path} is not a cloud secret (expected 32 bytes of base64url text)`);
  }
  return await cloudSecretFrom(raw);
}
