/**
 * The few facts of a certificate a running agent needs — serial, validity window, public key —
 * and whether a private key belongs to it, read straight from the DER without `@peculiar/x509`.
 * An idle agent looks at its certificate at every connect and Welcome but makes one only at
 * enrollment and renewal; loading `@peculiar/x509` (with `reflect-metadata`, `tsyringe` and the
 * ASN.1 schemas) just to read two dates cost it about 2.4 MiB of live heap and more RSS
 * (README "Performance"). `pki.ts`, which makes and checks certificates, stays the one place that
 * builds them and is loaded when the agent enrolls or renews.
 * @module
 */

/** What a running agent reads from a certificate. */
export interface CertFacts {
  /** The serial number as lowercase hex, minimal (no sign-padding byte). */
  serialHex: string;
  /** Start of the validity window. */
  notBefore: Date;
  /** End of the validity window. */
  notAfter: Date;
  /** The SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
}

/** A certificate could not be read. */
export class CertReadError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "CertReadError";
  }
}

interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  /** Offset just past the content. */
  end: number;
}

function tlvAt(d: Uint8Array, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new CertReadError("truncated DER");
  const tag = d[pos];
  let len = d[pos + 1];
  let p = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || p + n > limit) throw new CertReadError("bad DER length");
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[p++];
  }
  if (p + len > limit) throw new CertReadError("truncated DER");
  return { tag, start: pos, body: p, end: p + len };
}

function childrenOf(d: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let p = t.body; p < t.end;) {
    const c = tlvAt(d, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

function timeOf(d: Uint8Array, t: Tlv): Date {
  const s = new TextDecoder().decode(d.subarray(t.body, t.end));
  const m = t.tag === 0x17
    ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
    : t.tag === 0x18
    ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(s)
    : null;
  if (!m) throw new CertReadError("bad certificate time");
  let year = Number(m[1]);
  if (t.tag === 0x17) year += year < 50 ? 2000 : 1900;
  return new Date(
    Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])),
  );
}

/** Decodes the first CERTIFICATE block of a PEM text. */
function derOf(certPem: string): Uint8Array {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(certPem);
  if (!m) throw new CertReadError("expected a PEM certificate");
  try {
    return Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  } catch {
    throw new CertReadError("invalid base64 in PEM certificate");
  }
}

/** Reads serial, validity window and public key of a PEM certificate. */
export function certFacts(certPem: string): CertFacts {
  const d = derOf(certPem);
  const cert = tlvAt(d, 0, d.length);
  const tbs = childrenOf(d, cert)[0];
  if (cert.tag !== 0x30 || tbs?.tag !== 0x30) throw new CertReadError("not a certificate");
  const f = childrenOf(d, tbs);
  const i = f[0]?.tag === 0xa0 ? 1 : 0; // [0] version, when present
  const [serial, , , validity, , spki] = f.slice(i);
  if (serial?.tag !== 0x02 || validity?.tag !== 0x30 || spki?.tag !== 0x30) {
    throw new CertReadError("not a certificate");
  }
  let s = d.subarray(serial.body, serial.end);
  if (s.length > 1 && s[0] === 0) s = s.subarray(1);
  const [from, to] = childrenOf(d, validity);
  if (!from || !to) throw new CertReadError("no validity window");
  return {
    serialHex: Array.from(s, (b) => b.toString(16).padStart(2, "0")).join(""),
    notBefore: timeOf(d, from),
    notAfter: timeOf(d, to),
    spki: d.slice(spki.start, spki.end),
  };
}

/** The SubjectPublicKeyInfo (DER) of a PKCS#8 EC private key, or null when it is not one. */
async function publicSpkiOf(keyPem: string): Promise<Uint8Array | null> {
  const m = /-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/.exec(keyPem);
  if (!m) return null;
  const der = Uint8Array.from(atob(m[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  for (const namedCurve of ["P-256", "P-384", "P-521"]) {
    let key: CryptoKey;
    try {
      key = await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve }, true, [
        "sign",
      ]);
    } catch {
      continue;
    }
    const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", key);
    const pubKey = await crypto.subtle.importKey(
      "jwk",
      { kty, crv, x, y, ext: true },
      { name: "ECDSA", namedCurve },
      true,
      ["verify"],
    );
    return new Uint8Array(await crypto.subtle.exportKey("spki", pubKey));
  }
  return null;
}

/**
 * True when the PKCS#8 private key in `keyPem` is the key of `certPem` (their public keys are
 * the same). Any failure, including unparsable input, yields false.
 */
export async function keyMatchesCert(keyPem: string, certPem: string): Promise<boolean> {
  try {
    const a = await publicSpkiOf(keyPem);
    const b = certFacts(certPem).spki;
    if (!a || a.length !== b.length) return false;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
    return diff === 0;
  } catch {
    return false;
  }
}

/** The certificates of a PEM bundle, each as its own PEM text (other blocks are skipped). */
export function splitPemCerts(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.map((
    b,
  ) => b + "\n") ?? [];
}
