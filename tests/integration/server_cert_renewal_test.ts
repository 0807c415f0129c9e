// The control/data server certificate and the node certificate renew themselves while the cloud
// runs: once due (injected clock past two thirds of their life) they are re-issued, written, and
// served to new TLS connections on both listeners — no restart, and the agent stream that was
// open stays up. Real in-process cloud, real agent supervisor, real TLS, loopback only.
import * as tls from "node:tls";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { enrollAgent, startTestCloud } from "../_fixtures/cloud.ts";
import { createLogger } from "../../src/shared/log.ts";
import { supervise, type Supervisor } from "../../src/agent/supervisor.ts";
import { certInfo, issuedBy, spkiPin, splitPemCerts } from "../../src/shared/crypto/pki.ts";
import { loadAgentCas, rotateCa } from "../../src/cloud/ca_rotation.ts";
import { until } from "../_fixtures/until.ts";

const log = createLogger({ role: "test", level: "silent" });
const DAY = 86_400_000;

/** The serial of the certificate a TLS listener serves, verified against `caPem` for 127.0.0.1. */
function servedSerial(port: number, caPem: string, client?: { key: string; cert: string }) {
  return new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, ca: caPem, ...client }, () => {
      resolve(hex(String(s.getPeerCertificate().serialNumber)));
      s.destroy();
    });
    s.on("error", reject);
  });
}

/** A serial as comparable hex (node:tls drops a leading zero nibble). */
const hex = (serial: string) => serial.toLowerCase().replace(/^0+/, "");

Deno.test("server and node certificates renew before expiry; listeners serve them with no restart", async () => {
  const tc = await startTestCloud();
  const dir = await Deno.makeTempDir();
  let sup: Supervisor | undefined;
  let again: Supervisor | undefined;
  try {
    const state = await enrollAgent(tc, dir);
    sup = supervise({ state, stateDir: dir, log });
    await until("control stream up", () => sup!.state === "connected", 20_000, 25);
    const since = sup.connectedSince;

    const ca = tc.cloud.pki.agentCa.certPem;
    const client = { key: state.keyPem, cert: state.certPem };
    const oldServer = hex(certInfo(tc.cloud.pki.server.certPem).serialHex);
    const oldNode = certInfo(tc.cloud.pki.node.certPem).serialHex;
    assertEquals(await servedSerial(tc.cloud.ports.control, ca, client), oldServer);
    assertEquals(await servedSerial(tc.cloud.ports.data, ca), oldServer);
    assertEquals(await tc.cloud.renewServerCerts(), { server: false, node: false }, "not due");

    // 600 days on (past two thirds of 825): both are re-issued and served at once.
    tc.clock.advance(600 * DAY);
    assertEquals(await tc.cloud.renewServerCerts(), { server: true, node: true });
    tc.clock.advance(-600 * DAY);
    const newServer = hex(certInfo(tc.cloud.pki.server.certPem).serialHex);
    assert(newServer !== oldServer);
    assert(certInfo(tc.cloud.pki.node.certPem).serialHex !== oldNode);
    const onDisk = await Deno.readTextFile(`${tc.cloud.config.dataDir}/tls/control.pem`);
    assertEquals(hex(certInfo(onDisk).serialHex), newServer);
    const nodeKey = await Deno.stat(`${tc.cloud.config.dataDir}/tls/node.key`);
    assertEquals(nodeKey.mode! & 0o777, 0o600);
    // The control listener runs in the relay process, which gets the new pair a moment later.
    await until(
      "the control listener serving the new pair",
      async () => await servedSerial(tc.cloud.ports.control, ca, client) === newServer,
      20_000,
      50,
    );
    assertEquals(await servedSerial(tc.cloud.ports.data, ca), newServer);

    // The stream that was open is untouched; a new agent connection accepts the new chain.
    assertEquals(sup.state, "connected");
    assertEquals(sup.connectedSince, since);
    await sup.stop();
    sup = undefined;
    again = supervise({ state, stateDir: dir, log });
    await until(
      "reconnected on the renewed server cert",
      () => again!.state === "connected",
      20_000,
      25,
    );
  } finally {
    await sup?.stop();
    await again?.stop();
    await tc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("internal CA rotation: the running cloud trusts both, then re-issues its node certificate on the new CA", async () => {
  const tc = await startTestCloud();
  try {
    const dataDir = tc.cloud.config.dataDir;
    const pki = tc.cloud.pki;
    const oldCa = pki.internalCa.certPem;
    const { newPin } = await rotateCa(dataDir, "internal", "init");
    await until(
      "both internal CAs trusted",
      () => splitPemCerts(pki.internalTrustPem).length === 2,
      20_000,
      25,
    );
    assert(await issuedBy(pki.node.certPem, oldCa), "node still on the old CA");
    await rotateCa(dataDir, "internal", "update-clients");
    await rotateCa(dataDir, "internal", "update-servers");
    await until("primary internal CA switched", () => pki.internalCa.certPem !== oldCa, 20_000, 25);
    assertEquals(await spkiPin(pki.internalCa.certPem), newPin);
    const nodeOnNew = async () => await issuedBy(pki.node.certPem, pki.internalCa.certPem);
    const end = Date.now() + 20_000;
    while (!await nodeOnNew()) {
      if (Date.now() > end) throw new Error("node certificate not re-issued");
      await new Promise((r) => setTimeout(r, 50));
    }
    const onDisk = await Deno.readTextFile(`${dataDir}/tls/node.pem`);
    assert(await issuedBy(onDisk, pki.internalCa.certPem));
    await rotateCa(dataDir, "internal", "standby");
    await until(
      "old internal CA dropped",
      () => splitPemCerts(pki.internalTrustPem).length === 1,
      20_000,
      25,
    );
    // The agent CA was not touched.
    assertEquals((await loadAgentCas(dataDir)).phase, "standby");
  } finally {
    await tc.stop();
  }
});
