/**
 * The connector's small X.509 toolkit, in one place so every role makes certificates the same way.
 *
 * The cloud runs two private CAs (the agent CA that signs enrolling agents' client certificates,
 * and the internal CA for cloud nodes) and serves TLS with leaf certificates; agents make a key
 * and a CSR, and pin the cloud's CA by SPKI hash during enrollment. Getting these details wrong
 * fails only at handshake time, deep inside gRPC/TLS, so this module fixes them once:
 *
 * - keys are ECDSA P-256 and always exported as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`): the
 *   TLS and gRPC stacks under Deno reject SEC1 (`BEGIN EC PRIVATE KEY`) keys;
 * - CA certificates carry critical BasicConstraints CA:true and KeyUsage keyCertSign+cRLSign,
 *   plus a SubjectKeyIdentifier; leaves carry BasicConstraints CA:false, KeyUsage
 *   digitalSignature, the right ExtendedKeyUsage, and an AuthorityKeyIdentifier;
 * - serials are 16 random bytes with the top bit cleared (positive, 127 bits of entropy);
 * - notBefore is backdated five minutes to tolerate clock skew between cloud and sites;
 * - a client certificate's subject is chosen by the CA (the agent id), never taken from the CSR.
 *
 * Built on Web Crypto and `@peculiar/x509` (which needs `reflect-metadata` loaded first).
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { encodeHex } from "../encoding.ts";
// Shared with the agent's light reader (cert_reader.ts), which a running agent uses instead.
export { keyMatchesCert, splitPemCerts } from "./cert_reader.ts";

/** A certificate and its private key, both PEM; `keyPem` is always PKCS#8. */
export interface KeyAndCert {
  /** The certificate, PEM (`-----BEGIN CERTIFICATE-----`). */
  certPem: string;
  /** The private key, PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`). */
  keyPem: string;
}

/** The fields of a certificate the connector looks at. */
export interface CertInfo {
  /** The subject's first commonName, or "" when it has none. */
  subjectCN: string;
  /** The issuer's first commonName, or "" when it has none. */
  issuerCN: string;
  /** The serial number as lowercase hex, minimal (no sign-padding byte). */
  serialHex: string;
  /** Start of the validity window. */
  notBefore: Date;
  /** End of the validity window. */
  notAfter: Date;
  /** dNSName subject alternative names, in certificate order. */
  dnsNames: string[];
  /** iPAddress subject alternative names as text (IPv6 compressed), in certificate order. */
  ipAddresses: string[];
}

/** A PKI operation was refused: bad CSR, wrong key type, unusable CA, malformed PEM. */
export class PkiError extends Error {
  /** Creates the error; `options.cause` keeps the underlying failure. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PkiError";
  }
}

const DAY_MS = 24 * 60 * 60 * 1000;
const SKEW_MS = 5 * 60 * 1000;
const DEFAULT_CA_DAYS = 3650;
const DEFAULT_LEAF_DAYS = 825;

type Curve = "P-256" | "P-384" | "P-521";
const CURVE_HASH: Record<Curve, string> = {
  "P-256": "SHA-256",
  "P-384": "SHA-384",
  "P-521": "SHA-512",
};
const P256: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const P256_SIGN = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
/**
 * DER prefix of an uncompressed EC P-256 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE {
 * id-ecPublicKey, prime256v1 }, BIT STRING (66 bytes: 0x00 then 0x04 || X || Y) }.
 */
const P256_SPKI_PREFIX = Uint8Array.from([
  0x30,
  0x59,
  0x30,
  0x13,
  0x06,
  0x07,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x02,
  0x01,
  0x06,
  0x08,
  0x2a,
  0x86,
  0x48,
  0xce,
  0x3d,
  0x03,
  0x01,
  0x07,
  0x03,
  0x42,
  0x00,
  0x04,
]);
const P256_SPKI_LENGTH = 91;

// ---------------------------------------------------------------------------------------------
// PEM and key helpers

function pemEncode(label: string, der: ArrayBuffer | Uint8Array): string {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

function pemDecode(pem: string, label: string): Uint8Array<ArrayBuffer> {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) throw new PkiError(`expected a PEM block "${label}"`);
  try {
    const bin = atob(m[1].replace(/\s+/g, ""));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch (err) {
    throw new PkiError(`invalid base64 in PEM block "${label}"`, { cause: err });
  }
}

function parseCert(certPem: string): x509.X509Certificate {
  if (!certPem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new PkiError("expected a PEM certificate");
  }
  try {
    return new x509.X509Certificate(certPem);
  } catch (err) {
    throw new PkiError("cannot parse certificate", { cause: err });
  }
}

interface EcKeyPair {
  keys: CryptoKeyPair;
  curve: Curve;
}

/** Imports a PKCS#8 EC private key and derives its public half (via JWK, dropping `d`). */
async function importEcKeyPem(keyPem: string): Promise<EcKeyPair> {
  if (keyPem.includes("-----BEGIN EC PRIVATE KEY-----")) {
    throw new PkiError("SEC1 EC keys are not supported; use PKCS#8 (BEGIN PRIVATE KEY)");
  }
  const der = pemDecode(keyPem, "PRIVATE KEY");
  for (const curve of Object.keys(CURVE_HASH) as Curve[]) {
    let privateKey: CryptoKey;
    try {
      privateKey = await crypto.subtle.importKey(
        "pkcs8",
        der,
        { name: "ECDSA", namedCurve: curve },
        true,
        ["sign"],
      );
    } catch {
      continue;
    }
    const jwk = await crypto.subtle.exportKey("jwk", privateKey);
    const { kty, crv, x, y } = jwk;
    const publicKey = await crypto.subtle.importKey(
      "jwk",
      { kty, crv, x, y, ext: true },
      { name: "ECDSA", namedCurve: curve },
      true,
      ["verify"],
    );
    return { keys: { privateKey, publicKey }, curve };
  }
  throw new PkiError("private key is not a PKCS#8 ECDSA key on P-256, P-384 or P-521");
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

interface LoadedCa {
  cert: x509.X509Certificate;
  signingKey: CryptoKey;
  signingAlgorithm: EcdsaParams & { namedCurve: Curve };
  aki: x509.AuthorityKeyIdentifierExtension;
}

/** Parses a CA, checks it is a CA and that its key matches its certificate. */
async function loadCa(ca: KeyAndCert): Promise<LoadedCa> {
  const cert = parseCert(ca.certPem);
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (!bc?.ca) throw new PkiError("issuer certificate is not a CA (BasicConstraints CA:false)");
  const { keys, curve } = await importEcKeyPem(ca.keyPem);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  if (!bytesEqual(spki, new Uint8Array(cert.publicKey.rawData))) {
    throw new PkiError("CA private key does not match the CA certificate");
  }
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(cert.publicKey);
  return {
    cert,
    signingKey: keys.privateKey,
    signingAlgorithm: { name: "ECDSA", namedCurve: curve, hash: CURVE_HASH[curve] },
    aki,
  };
}

/** 16 random bytes, top bit cleared so the INTEGER is positive without padding. */
function randomSerialHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return encodeHex(bytes);
}

function validity(
  validDays: number | undefined,
  fallback: number,
  now = Date.now(),
): { notBefore: Date; notAfter: Date } {
  const days = validDays ?? fallback;
  if (!Number.isFinite(days) || days <= 0) throw new PkiError(`invalid validDays: ${validDays}`);
  return { notBefore: new Date(now - SKEW_MS), notAfter: new Date(now + days * DAY_MS) };
}

function cnName(commonName: string): x509.JsonName {
  if (commonName.length === 0) throw new PkiError("commonName must not be empty");
  return [{ CN: [commonName] }];
}

/** Canonical text of an IP literal, or null when `host` is not one. */
function ipLiteral(host: string): string | null {
  const kind = isIP(host);
  if (kind === 4) return host;
  if (kind === 6) {
    // The WHATWG URL parser canonicalizes IPv6 (and folds embedded IPv4 into hex groups), which
    // is the form the x509 library's IPv6 encoder understands.
    try {
      return new URL(`http://[${host}]/`).hostname.slice(1, -1);
    } catch (err) {
      throw new PkiError(`unsupported IPv6 address for a certificate: ${host}`, { cause: err });
    }
  }
  return null;
}

function sanExtension(hostnames: string[]): x509.SubjectAlternativeNameExtension | null {
  const names: x509.JsonGeneralName[] = [];
  const seen = new Set<string>();
  for (const host of hostnames) {
    const ip = ipLiteral(host);
    const name: x509.JsonGeneralName = ip === null
      ? { type: "dns", value: host }
      : { type: "ip", value: ip };
    const key = `${name.type}:${name.value.toLowerCase()}`;
    if (name.value === "" || seen.has(key)) continue;
    seen.add(key);
    names.push(name);
  }
  return names.length ? new x509.SubjectAlternativeNameExtension(names, false) : null;
}

/** Issues a leaf for `publicKey` under `ca` with the given EKUs and SANs. */
async function issueLeaf(opts: {
  ca: LoadedCa;
  publicKey: x509.PublicKeyType;
  commonName: string;
  ekus: x509.ExtendedKeyUsage[];
  hostnames: string[];
  validDays: number | undefined;
  now: number | undefined;
}): Promise<x509.X509Certificate> {
  const { notBefore, notAfter } = validity(opts.validDays, DEFAULT_LEAF_DAYS, opts.now);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(opts.ekus, false),
    await x509.SubjectKeyIdentifierExtension.create(opts.publicKey),
    opts.ca.aki,
  ];
  const san = sanExtension(opts.hostnames);
  if (san) extensions.push(san);
  return await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: cnName(opts.commonName),
    issuer: opts.ca.cert.subjectName,
    notBefore,
    notAfter,
    publicKey: opts.publicKey,
    signingKey: opts.ca.signingKey,
    signingAlgorithm: opts.ca.signingAlgorithm,
    extensions,
  });
}

async function issueKeyAndLeaf(opts: {
  ca: KeyAndCert;
  commonName: string;
  hostnames: string[];
  validDays?: number;
  now?: number;
  ekus: x509.ExtendedKeyUsage[];
}): Promise<KeyAndCert> {
  const ca = await loadCa(opts.ca);
  const keys = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
  const cert = await issueLeaf({
    ca,
    publicKey: keys.publicKey,
    commonName: opts.commonName,
    ekus: opts.ekus,
    hostnames: opts.hostnames,
    validDays: opts.validDays,
    now: opts.now,
  });
  return {
    certPem: pemEncode("CERTIFICATE", cert.rawData),
    keyPem: pemEncode("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Creates a self-signed CA: a fresh P-256 key, subject `CN=commonName`, BasicConstraints CA:true
 * and KeyUsage keyCertSign+cRLSign (both critical), SubjectKeyIdentifier; valid from five
 * minutes before `now` (epoch ms, default: the wall clock) for `validDays` (default 3650).
 */
export async function createCA(
  opts: { commonName: string; validDays?: number; now?: number },
): Promise<KeyAndCert> {
  const { notBefore, notAfter } = validity(opts.validDays, DEFAULT_CA_DAYS, opts.now);
  const keys = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: cnName(opts.commonName),
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: P256_SIGN,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: pemEncode("CERTIFICATE", cert.rawData),
    keyPem: pemEncode("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

/**
 * Issues a TLS server leaf (fresh P-256 key) under `ca`: EKU serverAuth; each entry of
 * `hostnames` that parses as an IPv4/IPv6 address becomes an IP SAN, every other a DNS SAN.
 * Valid `validDays` (default 825) from `now` (epoch ms, default: the wall clock). Throws
 * {@linkcode PkiError} if `ca` is unusable.
 */
export async function issueServerCert(opts: {
  ca: KeyAndCert;
  commonName: string;
  hostnames: string[];
  validDays?: number;
  now?: number;
}): Promise<KeyAndCert> {
  return await issueKeyAndLeaf({ ...opts, ekus: [x509.ExtendedKeyUsage.serverAuth] });
}

/**
 * Issues a cloud-node leaf on the internal CA (fresh P-256 key): EKU serverAuth and clientAuth, so
 * one certificate serves both ends of node-to-node mTLS; SANs as in {@linkcode issueServerCert}.
 * Valid `validDays` (default 825) from `now` (default: the wall clock).
 */
export async function issueNodeCert(opts: {
  ca: KeyAndCert;
  commonName: string;
  hostnames: string[];
  validDays?: number;
  now?: number;
}): Promise<KeyAndCert> {
  return await issueKeyAndLeaf({
    ...opts,
    ekus: [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
  });
}

/** Generates a new ECDSA P-256 private key, returned as PKCS#8 PEM. */
export async function generateKeyPem(): Promise<string> {
  const keys = await crypto.subtle.generateKey(P256, true, ["sign", "verify"]);
  return pemEncode("PRIVATE KEY", await crypto.subtle.exportKey("pkcs8", keys.privateKey));
}

/**
 * Makes a PKCS#10 certificate signing request for the key in `keyPem` (PKCS#8 EC PEM), with
 * subject `CN=commonName`, self-signed by that key. Returns the CSR as PEM.
 */
export async function createCsr(opts: { keyPem: string; commonName: string }): Promise<string> {
  const { keys, curve } = await importEcKeyPem(opts.keyPem);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: cnName(opts.commonName),
    keys,
    signingAlgorithm: { name: "ECDSA", hash: CURVE_HASH[curve] } as EcdsaParams,
  });
  return pemEncode("CERTIFICATE REQUEST", csr.rawData);
}

/**
 * Signs an agent's CSR with the agent CA. Checks that the CSR's self-signature verifies and that
 * its key is EC P-256 (else {@linkcode PkiError}), then issues a client certificate whose subject
 * is `CN=commonName` (the CSR's own subject and extensions are ignored): EKU clientAuth only,
 * KeyUsage digitalSignature, BasicConstraints CA:false, random positive 128-bit serial, valid
 * `validDays` (default 825) from `now` (epoch ms, default: the wall clock). Returns the
 * certificate PEM and its serial as lowercase hex.
 */
export async function signClientCsr(opts: {
  ca: KeyAndCert;
  csrPem: string;
  commonName: string;
  validDays?: number;
  now?: number;
}): Promise<{ certPem: string; serialHex: string }> {
  if (!opts.csrPem.includes("-----BEGIN CERTIFICATE REQUEST-----")) {
    throw new PkiError("expected a PEM certificate request");
  }
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(opts.csrPem);
  } catch (err) {
    throw new PkiError("cannot parse certificate request", { cause: err });
  }
  const spki = new Uint8Array(csr.publicKey.rawData);
  if (spki.length !== P256_SPKI_LENGTH || !bytesEqual(spki.subarray(0, 27), P256_SPKI_PREFIX)) {
    throw new PkiError("certificate request key must be ECDSA P-256");
  }
  let valid = false;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new PkiError("certificate request signature cannot be verified", { cause: err });
  }
  if (!valid) throw new PkiError("certificate request signature is invalid");
  const ca = await loadCa(opts.ca);
  const cert = await issueLeaf({
    ca,
    publicKey: csr.publicKey,
    commonName: opts.commonName,
    ekus: [x509.ExtendedKeyUsage.clientAuth],
    hostnames: [],
    validDays: opts.validDays,
    now: opts.now,
  });
  return { certPem: pemEncode("CERTIFICATE", cert.rawData), serialHex: cert.serialNumber };
}

/**
 * Returns `"sha256:"` + lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo (the
 * kubeadm discovery-token-ca-cert-hash convention), for pinning a CA before trusting it.
 */
export async function spkiPin(certPem: string): Promise<string> {
  const cert = parseCert(certPem);
  const digest = await crypto.subtle.digest("SHA-256", cert.publicKey.rawData);
  return `sha256:${encodeHex(new Uint8Array(digest))}`;
}

/** PEM text of a DER certificate (e.g. the peer certificate's `raw` bytes from a TLS stack). */
export function certPemFromDer(der: Uint8Array): string {
  return pemEncode("CERTIFICATE", der);
}

/** The subject CN of a PEM certificate request, or null when it cannot be parsed. */
export function csrCommonName(csrPem: string): string | null {
  try {
    return new x509.Pkcs10CertificateRequest(csrPem).subjectName.getField("CN")[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * True when `caPem` signed `leafPem` (issuer name and signature), whatever the dates: which CA
 * issued a certificate, as opposed to {@linkcode verifiedBy}, which also asks whether it is valid
 * now. Any failure yields false.
 */
export async function issuedBy(leafPem: string, caPem: string): Promise<boolean> {
  try {
    const leaf = parseCert(leafPem);
    const ca = parseCert(caPem);
    const issuer = new Uint8Array(leaf.issuerName.toArrayBuffer());
    const subject = new Uint8Array(ca.subjectName.toArrayBuffer());
    if (!bytesEqual(issuer, subject)) return false;
    return await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

/** Reads the subject/issuer CNs, serial, validity window and SANs of a PEM certificate. */
export function certInfo(certPem: string): CertInfo {
  const cert = parseCert(certPem);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const ext of cert.getExtensions(x509.SubjectAlternativeNameExtension)) {
    for (const name of ext.names.items) {
      if (name.type === "dns") dnsNames.push(name.value);
      else if (name.type === "ip") ipAddresses.push(name.value);
    }
  }
  return {
    subjectCN: cert.subjectName.getField("CN")[0] ?? "",
    issuerCN: cert.issuerName.getField("CN")[0] ?? "",
    serialHex: cert.serialNumber.toLowerCase(),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    dnsNames,
    ipAddresses,
  };
}

/**
 * True when `leafPem`'s signature verifies with `caPem`'s public key, the leaf's issuer name
 * equals the CA's subject name (DER), and `now` (default: the current time) lies within both
 * certificates' validity windows. Any failure, including unparsable input, yields false.
 */
export async function verifiedBy(
  leafPem: string,
  caPem: string,
  now = new Date(),
): Promise<boolean> {
  try {
    const leaf = parseCert(leafPem);
    const ca = parseCert(caPem);
    const within = (c: x509.X509Certificate) =>
      now.getTime() >= c.notBefore.getTime() && now.getTime() <= c.notAfter.getTime();
    if (!within(leaf) || !within(ca)) return false;
  } catch {
    return false;
  }
  return await issuedBy(leafPem, caPem);
}
