import assert from "node:assert/strict";
import * as tls from "node:tls";
import { join } from "node:path";
import { openssl, type OpensslRun } from "../../../_fixtures/openssl.ts";
import {
  certInfo,
  createCA,
  createCsr,
  generateKeyPem,
  issueNodeCert,
  issueServerCert,
  type KeyAndCert,
  PkiError,
  signClientCsr,
  spkiPin,
  verifiedBy,
} from "../../../../src/shared/crypto/pki.ts";

// ---------------------------------------------------------------------------------------------
// helpers: openssl as the independent verifier

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "pki_test_" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `openssl verify -CAfile ca.pem leaf.pem` on files in a temp dir. */
async function opensslVerify(
  caPem: string,
  leafPem: string,
  purpose?: string,
): Promise<OpensslRun> {
  return await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "ca.pem"), caPem);
    await Deno.writeTextFile(join(dir, "leaf.pem"), leafPem);
    const extra = purpose ? ["-purpose", purpose] : [];
    return await openssl([
      "verify",
      ...extra,
      "-CAfile",
      join(dir, "ca.pem"),
      join(dir, "leaf.pem"),
    ]);
  });
}

async function x509Text(certPem: string): Promise<string> {
  const r = await openssl(["x509", "-noout", "-text"], certPem);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** The text of one extension block in `openssl x509 -text` output (header line + value lines). */
function extBlock(text: string, header: string): string {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.includes(header));
  assert.notEqual(i, -1, `extension ${header} missing in:\n${text}`);
  const out = [lines[i]];
  for (let j = i + 1; j < lines.length && !/X509v3 |Signature Algorithm/.test(lines[j]); j++) {
    out.push(lines[j]);
  }
  return out.join("\n");
}

async function assertPkcs8Key(keyPem: string): Promise<void> {
  assert.ok(keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n"), keyPem.slice(0, 40));
  assert.ok(keyPem.trimEnd().endsWith("-----END PRIVATE KEY-----"));
  const r = await openssl(["pkey", "-noout", "-text"], keyPem);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /NIST CURVE: P-256|prime256v1/);
}

function pemToDer(pem: string): Uint8Array {
  const b64 = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

function derToPem(label: string, der: Uint8Array): string {
  let bin = "";
  for (const b of der) bin += String.fromCharCode(b);
  const lines = btoa(bin).match(/.{1,64}/g)!;
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

async function clientCert(ca: KeyAndCert, commonName: string, csrCN = "from-the-csr") {
  const keyPem = await generateKeyPem();
  const csrPem = await createCsr({ keyPem, commonName: csrCN });
  const signed = await signClientCsr({ ca, csrPem, commonName });
  return { keyPem, csrPem, ...signed };
}

// One CA shared by most tests (key generation is cheap, but openssl runs are not free).
const ca = await createCA({ commonName: "Nanodems Test Agent CA" });

// ---------------------------------------------------------------------------------------------
// CA

Deno.test("createCA: self-signed P-256 CA with critical CA:true, keyCertSign+cRLSign and SKI", async () => {
  await assertPkcs8Key(ca.keyPem);
  const text = await x509Text(ca.certPem);
  assert.match(text, /Subject: CN\s?=\s?Nanodems Test Agent CA/);
  assert.match(text, /Issuer: CN\s?=\s?Nanodems Test Agent CA/);
  assert.match(extBlock(text, "X509v3 Basic Constraints"), /critical\s+CA:TRUE/);
  assert.match(
    extBlock(text, "X509v3 Key Usage"),
    /critical\s+Certificate Sign, CRL Sign\s*$/,
  );
  assert.match(text, /X509v3 Subject Key Identifier/);
  assert.match(text, /ecdsa-with-SHA256/);

  // openssl accepts it as a trust anchor for itself.
  const self = await opensslVerify(ca.certPem, ca.certPem);
  assert.equal(self.code, 0, self.stderr + self.stdout);

  const info = certInfo(ca.certPem);
  assert.equal(info.subjectCN, "Nanodems Test Agent CA");
  assert.equal(info.issuerCN, "Nanodems Test Agent CA");
  // notBefore is backdated ~5 minutes; validity defaults to 3650 days.
  const skew = Date.now() - info.notBefore.getTime();
  assert.ok(skew > 4 * 60_000 && skew < 6 * 60_000, `skew ${skew}ms`);
  const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - 3650) < 0.01, `days ${days}`);
  assert.equal(await verifiedBy(ca.certPem, ca.certPem), true);
});

Deno.test("createCA honours validDays and serials are random, positive and 128-bit", async () => {
  const short = await createCA({ commonName: "Short", validDays: 2 });
  const days = (certInfo(short.certPem).notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - 2) < 0.01, `days ${days}`);
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) {
    const { serialHex } = await signClientCsr({
      ca,
      csrPem: await createCsr({ keyPem: await generateKeyPem(), commonName: "x" }),
      commonName: `agent-${i}`,
    });
    assert.match(serialHex, /^[0-9a-f]+$/);
    assert.ok(serialHex.length <= 32);
    assert.ok(parseInt(serialHex.padStart(32, "0").slice(0, 2), 16) < 0x80, serialHex);
    serials.add(serialHex);
  }
  assert.equal(serials.size, 20);
});

// ---------------------------------------------------------------------------------------------
// leaves, checked by openssl

Deno.test("issueServerCert: openssl verifies the chain; EKU serverAuth only; IP and DNS SANs", async () => {
  const srv = await issueServerCert({
    ca,
    commonName: "cloud.example",
    hostnames: ["localhost", "127.0.0.1", "::1", "cloud.example"],
  });
  await assertPkcs8Key(srv.keyPem);
  const v = await opensslVerify(ca.certPem, srv.certPem, "sslserver");
  assert.equal(v.code, 0, v.stderr + v.stdout);
  assert.match(v.stdout, /leaf\.pem: OK/);

  const text = await x509Text(srv.certPem);
  const eku = extBlock(text, "X509v3 Extended Key Usage");
  assert.match(eku, /TLS Web Server Authentication/);
  assert.doesNotMatch(eku, /Client/);
  const san = extBlock(text, "X509v3 Subject Alternative Name");
  assert.match(san, /DNS:localhost/);
  assert.match(san, /IP Address:127\.0\.0\.1/);
  assert.match(san, /IP Address:0:0:0:0:0:0:0:1/);
  assert.match(san, /DNS:cloud\.example/);
  assert.doesNotMatch(san, /DNS:127/);
  assert.match(extBlock(text, "X509v3 Basic Constraints"), /CA:FALSE/);
  assert.match(extBlock(text, "X509v3 Key Usage"), /Digital Signature/);
  // AKI of the leaf is the CA's SKI.
  const caSki = extBlock(await x509Text(ca.certPem), "Subject Key Identifier").split("\n")[1]
    .trim();
  assert.match(extBlock(text, "Authority Key Identifier"), new RegExp(caSki));

  const info = certInfo(srv.certPem);
  assert.equal(info.subjectCN, "cloud.example");
  assert.equal(info.issuerCN, "Nanodems Test Agent CA");
  assert.deepEqual(info.dnsNames, ["localhost", "cloud.example"]);
  assert.deepEqual(info.ipAddresses, ["127.0.0.1", "::1"]);
  const days = (info.notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - 825) < 0.01, `days ${days}`);
  assert.equal(await verifiedBy(srv.certPem, ca.certPem), true);
});

Deno.test("issueNodeCert: openssl verifies the chain for both purposes; EKU serverAuth+clientAuth", async () => {
  const internal = await createCA({ commonName: "Nanodems Internal CA" });
  const node = await issueNodeCert({
    ca: internal,
    commonName: "node-1",
    hostnames: ["node-1.internal", "192.0.2.7"],
    validDays: 30,
  });
  await assertPkcs8Key(node.keyPem);
  for (const purpose of ["sslserver", "sslclient"]) {
    const v = await opensslVerify(internal.certPem, node.certPem, purpose);
    assert.equal(v.code, 0, `${purpose}: ${v.stderr}${v.stdout}`);
  }
  const text = await x509Text(node.certPem);
  const eku = extBlock(text, "X509v3 Extended Key Usage");
  assert.match(eku, /TLS Web Server Authentication/);
  assert.match(eku, /TLS Web Client Authentication/);
  const san = extBlock(text, "X509v3 Subject Alternative Name");
  assert.match(san, /DNS:node-1\.internal/);
  assert.match(san, /IP Address:192\.0\.2\.7/);
  const days = (certInfo(node.certPem).notAfter.getTime() - Date.now()) / 86_400_000;
  assert.ok(Math.abs(days - 30) < 0.01);

  // Not valid under a different CA, per openssl and per verifiedBy.
  const v = await opensslVerify(ca.certPem, node.certPem);
  assert.notEqual(v.code, 0);
  assert.equal(await verifiedBy(node.certPem, ca.certPem), false);
  assert.equal(await verifiedBy(node.certPem, internal.certPem), true);
});

Deno.test("generateKeyPem + createCsr + signClientCsr: openssl agrees; CN comes from the CA, not the CSR", async () => {
  const keyPem = await generateKeyPem();
  await assertPkcs8Key(keyPem);
  const csrPem = await createCsr({ keyPem, commonName: "whatever-the-agent-asked" });
  assert.ok(csrPem.startsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));
  const req = await openssl(["req", "-noout", "-verify", "-subject"], csrPem);
  assert.equal(req.code, 0, req.stderr);
  assert.match(req.stdout + req.stderr, /verify OK/);
  assert.match(req.stdout, /CN\s?=\s?whatever-the-agent-asked/);

  const { certPem, serialHex } = await signClientCsr({ ca, csrPem, commonName: "agt-42" });
  const v = await opensslVerify(ca.certPem, certPem, "sslclient");
  assert.equal(v.code, 0, v.stderr + v.stdout);
  const text = await x509Text(certPem);
  assert.match(text, /Subject: CN\s?=\s?agt-42\s*$/m);
  assert.doesNotMatch(text, /whatever-the-agent-asked/);
  const eku = extBlock(text, "X509v3 Extended Key Usage");
  assert.match(eku, /TLS Web Client Authentication/);
  assert.doesNotMatch(eku, /Server/);
  assert.match(extBlock(text, "X509v3 Basic Constraints"), /CA:FALSE/);
  assert.match(extBlock(text, "X509v3 Key Usage"), /Digital Signature\s*$/);
  assert.match(text, /Authority Key Identifier/);
  // Not usable as a server certificate.
  assert.notEqual((await opensslVerify(ca.certPem, certPem, "sslserver")).code, 0);

  // The certificate carries the CSR's key: openssl's view of both public keys is identical.
  const certPub = await openssl(["x509", "-noout", "-pubkey"], certPem);
  const keyPub = await openssl(["pkey", "-pubout"], keyPem);
  assert.equal(certPub.stdout, keyPub.stdout);

  // serialHex matches what openssl reads.
  const serial = await openssl(["x509", "-noout", "-serial"], certPem);
  assert.equal(serial.stdout.trim().replace(/^serial=/, "").toLowerCase(), serialHex);
  assert.equal(certInfo(certPem).serialHex, serialHex);
  assert.equal(certInfo(certPem).subjectCN, "agt-42");
  assert.deepEqual(certInfo(certPem).dnsNames, []);
  assert.equal(await verifiedBy(certPem, ca.certPem), true);
});

Deno.test("createCsr accepts an openssl-generated PKCS#8 key and rejects SEC1", async () => {
  const gen = await openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
  assert.equal(gen.code, 0, gen.stderr);
  assert.ok(gen.stdout.startsWith("-----BEGIN PRIVATE KEY-----"));
  const csrPem = await createCsr({ keyPem: gen.stdout, commonName: "interop" });
  const { certPem } = await signClientCsr({ ca, csrPem, commonName: "agt-interop" });
  assert.equal((await opensslVerify(ca.certPem, certPem)).code, 0);

  const sec1 = await openssl(["ec", "-outform", "PEM"], gen.stdout);
  assert.equal(sec1.code, 0, sec1.stderr);
  assert.match(sec1.stdout, /BEGIN EC PRIVATE KEY/);
  await assert.rejects(createCsr({ keyPem: sec1.stdout, commonName: "x" }), PkiError);
  await assert.rejects(createCsr({ keyPem: "not a key", commonName: "x" }), PkiError);
});

// ---------------------------------------------------------------------------------------------
// signClientCsr refusals

Deno.test("signClientCsr rejects a CSR whose signature was tampered with", async () => {
  const csrPem = await createCsr({ keyPem: await generateKeyPem(), commonName: "x" });
  const der = pemToDer(csrPem);
  der[der.length - 1] ^= 0x01; // last byte of the DER is inside the signature's s INTEGER
  const tampered = derToPem("CERTIFICATE REQUEST", der);
  const check = await openssl(["req", "-noout", "-verify"], tampered);
  assert.doesNotMatch(check.stdout + check.stderr, /verify OK/);
  assert.match(check.stdout + check.stderr, /verify fail/i);
  await assert.rejects(signClientCsr({ ca, csrPem: tampered, commonName: "agt" }), PkiError);
  // The untampered CSR is fine.
  await signClientCsr({ ca, csrPem, commonName: "agt" });
});

Deno.test("signClientCsr rejects a P-384 CSR even though its signature is valid", async () => {
  const keys = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  const keyPem = derToPem(
    "PRIVATE KEY",
    new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey)),
  );
  const csrPem = await createCsr({ keyPem, commonName: "p384" });
  const req = await openssl(["req", "-noout", "-verify", "-text"], csrPem);
  assert.equal(req.code, 0, req.stderr);
  assert.match(req.stdout, /P-384|secp384r1/);
  await assert.rejects(
    signClientCsr({ ca, csrPem, commonName: "agt" }),
    (err: unknown) => err instanceof PkiError && /P-256/.test(err.message),
  );
});

Deno.test("signClientCsr rejects garbage, and a CA whose key does not match its certificate", async () => {
  await assert.rejects(signClientCsr({ ca, csrPem: "hello", commonName: "a" }), PkiError);
  await assert.rejects(
    signClientCsr({
      ca,
      csrPem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
      commonName: "a",
    }),
    PkiError,
  );
  const other = await createCA({ commonName: "Other" });
  const csrPem = await createCsr({ keyPem: await generateKeyPem(), commonName: "x" });
  await assert.rejects(
    signClientCsr({ ca: { certPem: ca.certPem, keyPem: other.keyPem }, csrPem, commonName: "a" }),
    PkiError,
  );
  // A leaf cannot act as a CA.
  const leaf = await issueServerCert({ ca, commonName: "leaf", hostnames: ["localhost"] });
  await assert.rejects(signClientCsr({ ca: leaf, csrPem, commonName: "a" }), PkiError);
});

// ---------------------------------------------------------------------------------------------
// spkiPin and verifiedBy

Deno.test("spkiPin equals openssl's SHA-256 of the DER SPKI and differs between CAs", async () => {
  const pub = await openssl(["x509", "-pubkey", "-noout"], ca.certPem);
  assert.equal(pub.code, 0, pub.stderr);
  const expected = await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "pub.pem"), pub.stdout);
    const der = join(dir, "spki.der");
    const conv = await openssl([
      "pkey",
      "-pubin",
      "-in",
      join(dir, "pub.pem"),
      "-outform",
      "der",
      "-out",
      der,
    ]);
    assert.equal(conv.code, 0, conv.stderr);
    const r = await openssl(["dgst", "-sha256", "-r", der]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split(/\s+/)[0];
  });
  assert.match(expected, /^[0-9a-f]{64}$/);
  assert.equal(await spkiPin(ca.certPem), `sha256:${expected}`);

  const other = await createCA({ commonName: "Nanodems Test Agent CA" }); // same name, new key
  assert.notEqual(await spkiPin(other.certPem), await spkiPin(ca.certPem));
  await assert.rejects(spkiPin("nope"), PkiError);
});

Deno.test("verifiedBy checks signature, issuer name and both validity windows", async () => {
  const { certPem } = await clientCert(ca, "agt-v");
  const info = certInfo(certPem);
  assert.equal(await verifiedBy(certPem, ca.certPem), true);
  assert.equal(await verifiedBy(certPem, ca.certPem, new Date(info.notBefore.getTime() + 1)), true);
  assert.equal(
    await verifiedBy(certPem, ca.certPem, new Date(info.notBefore.getTime() - 1000)),
    false,
  );
  assert.equal(
    await verifiedBy(certPem, ca.certPem, new Date(info.notAfter.getTime() + 1000)),
    false,
  );

  // CA expired while the leaf is still valid.
  const shortCa = await createCA({ commonName: "Short CA", validDays: 1 });
  const { certPem: leaf } = await clientCert(shortCa, "agt-s");
  assert.equal(await verifiedBy(leaf, shortCa.certPem), true);
  assert.equal(
    await verifiedBy(leaf, shortCa.certPem, new Date(Date.now() + 2 * 86_400_000)),
    false,
  );

  // Same subject name, different key: the signature check fails.
  const twin = await createCA({ commonName: "Nanodems Test Agent CA" });
  assert.equal(await verifiedBy(certPem, twin.certPem), false);
  // Different name: issuer mismatch.
  assert.equal(await verifiedBy(certPem, shortCa.certPem), false);
  // Garbage is never verified.
  assert.equal(await verifiedBy("junk", ca.certPem), false);
  assert.equal(await verifiedBy(certPem, "junk"), false);
});

// ---------------------------------------------------------------------------------------------
// a real mutual-TLS handshake (node:tls under Deno)

Deno.test("mTLS over node:tls: server sees the CA-chosen CN; a client cert from another CA is refused", async () => {
  const srv = await issueServerCert({
    ca,
    commonName: "localhost",
    hostnames: ["localhost", "127.0.0.1"],
  });
  const good = await clientCert(ca, "agt-mtls", "csr-says-otherwise");
  const rogueCa = await createCA({ commonName: "Rogue CA" });
  const rogue = await clientCert(rogueCa, "agt-mtls");

  const seen: { authorized: boolean; cn: unknown }[] = [];
  const clientErrors: Error[] = [];
  let onClientError: () => void = () => {};
  const clientErrorSeen = new Promise<void>((r) => (onClientError = r));
  const server = tls.createServer({
    key: srv.keyPem,
    cert: srv.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  }, (socket) => {
    seen.push({ authorized: socket.authorized, cn: socket.getPeerCertificate().subject?.CN });
    socket.end("welcome");
  });
  server.on("tlsClientError", (err: Error) => {
    clientErrors.push(err);
    onClientError();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  try {
    // 1. The properly enrolled client.
    const got = await new Promise<{ authorized: boolean; data: string }>((resolve, reject) => {
      let data = "";
      let authorized = false;
      const c = tls.connect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca: ca.certPem,
        key: good.keyPem,
        cert: good.certPem,
      });
      c.on("secureConnect", () => (authorized = c.authorized));
      c.on("data", (d) => (data += String(d)));
      c.on("error", reject);
      c.on("close", () => resolve({ authorized, data }));
    });
    assert.deepEqual(got, { authorized: true, data: "welcome" });
    assert.deepEqual(seen, [{ authorized: true, cn: "agt-mtls" }]);

    // 2. A client whose certificate comes from a different CA.
    const rogueResult = await new Promise<{ data: string; error?: Error }>((resolve) => {
      let data = "";
      let error: Error | undefined;
      const c = tls.connect({
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca: ca.certPem,
        key: rogue.keyPem,
        cert: rogue.certPem,
      });
      c.on("data", (d) => (data += String(d)));
      c.on("error", (e) => (error = e));
      c.on("close", () => resolve({ data, error }));
    });
    await clientErrorSeen;
    assert.equal(rogueResult.data, "", "the rogue client must not get application data");
    assert.equal(seen.length, 1, "the server's connection handler must not run for the rogue");
    assert.ok(clientErrors.length >= 1);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
