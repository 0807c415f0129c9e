/**
 * Self-signed certificates with any subject, validity and key (@peculiar/x509 and WebCrypto):
 * what a hostile or odd device may present — subjects with control characters, hundreds of
 * names or none, expired or not yet valid — which openssl's `-subj` cannot all write.
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** A certificate (PEM, a chain when several) and its PKCS#8 key (PEM). */
export interface CertAndKey {
  cert: string;
  key: string;
}

/** ECDSA P-256 with SHA-256: the default key and signature. */
export const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
/** RSA 2048 with SHA-256 (PKCS#1 v1.5), as older cameras have. */
export const RSA_2048 = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
} as const;

/** A key pair of `alg`, extractable. */
export async function keyPair(alg: typeof EC_P256 | typeof RSA_2048 = EC_P256) {
  return await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
}

/** PEM of a DER body. */
function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der))).replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** The private key of `keys` as PKCS#8 PEM. */
export async function keyPem(keys: CryptoKeyPair): Promise<string> {
  return pem("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
}

const DAY = 86_400_000;

/** A random serial number (positive: its first byte is 01). */
function serial(): string {
  return [1, ...crypto.getRandomValues(new Uint8Array(8))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A self-signed certificate for `subject` (each entry one relative name, e.g. `{ CN: ["x"] }`),
 * valid from a day ago for a year unless `from`/`to` (ms since the epoch) say otherwise.
 */
export async function anySubjectCert(
  subject: x509.JsonName,
  o: { from?: number; to?: number; keys?: CryptoKeyPair; rsa?: boolean } = {},
): Promise<CertAndKey> {
  const alg = o.rsa ? RSA_2048 : EC_P256;
  const keys = o.keys ?? await keyPair(alg);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: new x509.Name(subject),
    notBefore: new Date(o.from ?? now - DAY),
    notAfter: new Date(o.to ?? now + 365 * DAY),
    keys,
    signingAlgorithm: alg,
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys) };
}

/** A leaf for `cn` under `depth` intermediates and a root: the chain a server sends, leaf first. */
export async function chainCert(cn: string, depth: number): Promise<CertAndKey> {
  const now = Date.now();
  let issuerKeys = await keyPair();
  let issuerName = new x509.Name([{ CN: ["root"] }]);
  const chain: string[] = [];
  let leafKeys = issuerKeys;
  for (let i = depth; i >= 0; i--) {
    const keys = await keyPair();
    const name = new x509.Name([{ CN: [i === 0 ? cn : `intermediate ${i}`] }]);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: name,
      issuer: issuerName,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 365 * DAY),
      publicKey: keys.publicKey,
      signingKey: issuerKeys.privateKey,
      signingAlgorithm: EC_P256,
    });
    chain.unshift(cert.toString("pem"));
    [issuerKeys, issuerName, leafKeys] = [keys, name, keys];
  }
  return { cert: chain.join("\n"), key: await keyPem(leafKeys) };
}
