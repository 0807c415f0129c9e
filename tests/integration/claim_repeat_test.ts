// A claim whose answer was lost: the embedded agent claimed its serial, the cloud bound the device
// to a new agent, and the answer never reached the device's flash (a dropped connection, a power
// cut, a full disk). On the real cloud (in-process, real HTTP, real SQLite) with real keys and
// CSRs: the same key claiming again gets the same agent and a fresh certificate for that key,
// audited as a repeat; another key is still "already claimed", and so is the same key once its
// agent was revoked or its newest certificate has expired. And through the agent's own claim
// command: a first attempt that cannot save what the cloud sent, then the same command again.
import { assert, assertEquals, assertMatch } from "../_fixtures/assert.ts";
import { createCsr, generateKeyPem, spkiPin, verifiedBy } from "../../src/shared/crypto/pki.ts";
import { EnrollError, PENDING_KEY_FILE } from "../../src/agent/enroll.ts";
import { claim } from "../../src/agent/claim.ts";
import { loadState } from "../../src/agent/state.ts";
import { startTestCloud, type TestCloud } from "../_fixtures/cloud.ts";
import { inTempDir } from "../_fixtures/temp_dir.ts";

const DAY = 86_400_000;

async function site(t: TestCloud) {
  const s = t.cloud.store;
  const tenantId = (await s.createTenant({ name: "HE" })).id;
  const siteId = (await s.createSite({ tenantId, name: "HQ" })).id;
  let n = 0;
  const camera = async () => {
    const serial = `AC1000-2026-${String(++n).padStart(6, "0")}`;
    const dev = await s.createDevice({
      tenantId,
      siteId,
      host: `127.0.0.${10 + n}`,
      ports: [80],
      serial,
    });
    return { serial, deviceId: dev.id };
  };
  return { tenantId, siteId, camera };
}

Deno.test("a claim repeated by the device that made it: same agent, fresh certificate", async () => {
  const t = await startTestCloud();
  try {
    const { tenantId, siteId, camera } = await site(t);
    const { serial, deviceId } = await camera();
    const keyPem = await generateKeyPem();
    const post = async (key: string, sn = serial) => {
      // Each claim counts against the address's 10 a minute: step past the window.
      t.clock.advance(61_000);
      return await t.call("POST", "/claim", {}, {
        serial: sn,
        csr: await createCsr({ keyPem: key, commonName: "enrolling-agent" }),
        hostname: "cam-42",
        os: "linux/arm64",
        version: "0.1.0",
      });
    };
    const first = await post(keyPem);
    assertEquals(first.status, 200, first.text);
    const agentId = first.json.agentId as string;
    const pin = await spkiPin(first.json.certificate as string);

    // The answer was lost: the same key asks again (a new CSR, as a new attempt makes).
    const again = await post(keyPem);
    assertEquals(again.status, 200, again.text);
    assertEquals([again.json.agentId, again.json.siteId], [agentId, siteId]);
    const cert = again.json.certificate as string;
    assertEquals(await spkiPin(cert), pin, "a certificate for the same key");
    assert(cert !== first.json.certificate, "a fresh certificate");
    assert(await verifiedBy(cert, again.json.caCertificate as string));
    const agent = await t.cloud.store.getAgent(agentId);
    assertEquals(agent?.certSerial, (await t.cloud.pki.agentCerts.describe(cert)).serial);
    assertEquals((await t.cloud.store.listAgents(tenantId)).map((a) => a.id), [agentId]);
    assertEquals((await t.cloud.store.getDevice(tenantId, deviceId))?.claimedAgentId, agentId);
    const audit = await t.cloud.store.listAudit({ action: "agent.claim_repeat", limit: 10 });
    assertEquals(audit.map((e) => [e.target, e.detail.device]), [[agentId, deviceId]]);

    // Another key with the same serial: still claimed, nothing issued.
    const other = await post(await generateKeyPem());
    assertEquals(other.status, 409);
    assertMatch(String(other.json.message), /already been claimed/);

    // The same key once its agent is revoked: refused.
    const second = await camera();
    const key2 = await generateKeyPem();
    assertEquals((await post(key2, second.serial)).status, 200);
    const agent2 = (await t.cloud.store.getDeviceBySerial(second.serial))!.claimedAgentId!;
    await t.cloud.store.revokeAgent(tenantId, agent2);
    assertEquals((await post(key2, second.serial)).status, 409, "revoked");

    // The same key once the agent's newest certificate has expired: refused (a key alone does
    // not bring an expired identity back, as it cannot over the control stream).
    t.clock.advance(t.cloud.pki.agentCerts.days * DAY);
    const late = await post(keyPem);
    assertEquals(late.status, 409);
    assertEquals((await t.cloud.store.listAgents(tenantId)).length, 2);
    const refused = await t.cloud.store.listAudit({ action: "agent.claim.refused", limit: 10 });
    assertEquals(refused.length, 3, "each refusal audited");
  } finally {
    await t.stop();
  }
});

Deno.test("the agent's claim run again after its answer could not be saved: the same identity", async () => {
  const t = await startTestCloud();
  try {
    await inTempDir(async (dir) => {
      const { tenantId, camera } = await site(t);
      const { serial } = await camera();
      const stateDir = `${dir}/state`;
      const run = () => claim({ cloud: t.base, serial, caPin: t.cloud.pki.agentCaPin, stateDir });
      // The identity cannot be saved: a directory stands where the certificate goes (what a full
      // flash or a read-only file system does to the same write).
      await Deno.mkdir(`${stateDir}/agent.pem`, { recursive: true });
      let failure: unknown;
      try {
        await run();
      } catch (e) {
        failure = e;
      }
      assert(failure instanceof EnrollError, String(failure));
      assertMatch(failure.message, /the cloud enrolled this machine as ag-\S+, but its identity/);
      assertMatch(failure.message, /run the same command again: this device kept its key/);
      const agentId = /as (ag-\S+),/.exec(failure.message)![1];
      await Deno.stat(`${stateDir}/${PENDING_KEY_FILE}`); // kept for the next attempt

      await Deno.remove(`${stateDir}/agent.pem`, { recursive: true });
      const state = await run();
      assertEquals(state.agentId, agentId);
      assertEquals((await loadState(stateDir))?.agentId, agentId);
      assertEquals((await t.cloud.store.listAgents(tenantId)).map((a) => a.id), [agentId]);
      let gone = false;
      await Deno.stat(`${stateDir}/${PENDING_KEY_FILE}`).catch(() => (gone = true));
      assert(gone, "the pending key is gone once the identity is saved");
    });
  } finally {
    await t.stop();
  }
});
