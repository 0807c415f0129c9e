// The agent's light certificate reader agrees with the full toolkit (pki.ts, @peculiar/x509) and
// with openssl on serial, validity window and public key, and matches keys to certificates.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  certFacts,
  CertReadError,
  keyMatchesCert,
} from "../../../../src/shared/crypto/cert_reader.ts";
import {
  certInfo,
  createCA,
  createCsr,
  generateKeyPem,
  issueServerCert,
  signClientCsr,
  spkiPin,
} from "../../../../src/shared/crypto/pki.ts";
import { encodeHex } from "../../../../src/shared/encoding.ts";
import { opensslOk } from "../../../_fixtures/openssl.ts";

async function pinOf(spki: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", spki as Uint8Array<ArrayBuffer>);
  return `sha256:${encodeHex(new Uint8Array(digest))}`;
}

Deno.test("cert reader: serial, dates and public key equal pki.certInfo's on every kind pki makes", async () => {
  const ca = await createCA({ commonName: "Reader CA" });
  // Past 2049: the dates are GeneralizedTime, not UTCTime.
  const longCa = await createCA({ commonName: "Long CA", validDays: 40 * 366 });
  const server = await issueServerCert({
    ca,
    commonName: "srv",
    hostnames: ["localhost", "127.0.0.1", "::1"],
  });
  const keyPem = await generateKeyPem();
  const client = await signClientCsr({
    ca,
    csrPem: await createCsr({ keyPem, commonName: "x" }),
    commonName: "ag-1",
    validDays: 30,
  });
  assert(certInfo(longCa.certPem).notAfter.getUTCFullYear() > 2049);
  for (const pem of [ca.certPem, longCa.certPem, server.certPem, client.certPem]) {
    const full = certInfo(pem);
    const light = certFacts(pem);
    assertEquals(light.serialHex, full.serialHex);
    assertEquals(light.notBefore.getTime(), full.notBefore.getTime());
    assertEquals(light.notAfter.getTime(), full.notAfter.getTime());
    assertEquals(await pinOf(light.spki), await spkiPin(pem));
  }
  assert(await keyMatchesCert(keyPem, client.certPem));
  assert(await keyMatchesCert(server.keyPem, server.certPem));
  assert(!await keyMatchesCert(keyPem, server.certPem), "another certificate's key");
  assert(!await keyMatchesCert("garbage", server.certPem));
  assert(!await keyMatchesCert(keyPem, "garbage"));
});

Deno.test("cert reader: agrees with openssl on a certificate openssl made (serial with the top bit set)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await opensslOk([
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-384",
      "-nodes",
      "-keyout",
      `${dir}/k.pem`,
      "-out",
      `${dir}/c.pem`,
      "-subj",
      "/CN=openssl",
      "-days",
      "9",
      "-set_serial",
      "0x80a1b2c3d4",
    ]);
    const pem = await Deno.readTextFile(`${dir}/c.pem`);
    const facts = certFacts(pem);
    const text = await opensslOk(["x509", "-noout", "-serial", "-startdate", "-enddate"], pem);
    assertEquals(facts.serialHex, /serial=(\S+)/.exec(text)![1].toLowerCase());
    assertEquals(facts.notBefore.getTime(), Date.parse(/notBefore=(.+)/.exec(text)![1]));
    assertEquals(facts.notAfter.getTime(), Date.parse(/notAfter=(.+)/.exec(text)![1]));
    assert(await keyMatchesCert(await Deno.readTextFile(`${dir}/k.pem`), pem), "a P-384 key");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cert reader: anything but a certificate is a CertReadError", () => {
  for (
    const bad of [
      "",
      "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n",
      "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n",
    ]
  ) {
    let thrown: unknown = null;
    try {
      certFacts(bad);
    } catch (e) {
      thrown = e;
    }
    assert(thrown instanceof CertReadError, `${JSON.stringify(bad)}: ${thrown}`);
  }
});
