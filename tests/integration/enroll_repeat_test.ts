// An enrollment whose answer was lost: the installer used its one-shot token, the cloud created
// the agent, and the answer never reached the disk (a dropped connection, a full disk, a crash).
// On the real cloud (in-process, real HTTP, real SQLite) with real keys and CSRs: the same key
// sent again with the same token gets the same agent and a fresh certificate for that key,
// audited as a repeat; another key with that token is still "already used", and so is the same
// key once the token has expired or the agent was revoked. And through the agent's own enroll
// command: a first attempt that cannot save what the cloud sent, then the same command again. The
// one-line install link keeps answering for such a token, and only for such a token.
import { assert, assertEquals, assertMatch } from "../_fixtures/assert.ts";
import { formatJoinToken } from "../../src/shared/crypto/token.ts";
import { createCsr, generateKeyPem, spkiPin, verifiedBy } from "../../src/shared/crypto/pki.ts";
import { enroll, EnrollError, PENDING_KEY_FILE } from "../../src/agent/enroll.ts";
import { loadState } from "../../src/agent/state.ts";
import { enrollmentSecret, startTestCloud, type TestCloud } from "../_fixtures/cloud.ts";
import { inTempDir } from "../_fixtures/temp_dir.ts";

const HOUR = 3_600_000;

async function site(t: TestCloud) {
  const s = t.cloud.store;
  const tenantId = (await s.createTenant({ name: "HE" })).id;
  const siteId = (await s.createSite({ tenantId, name: "HQ" })).id;
  return { tenantId, siteId, token: () => enrollmentSecret(t, tenantId, siteId) };
}

Deno.test("enrollment repeated by the machine that used the token: same agent, fresh certificate", async () => {
  const t = await startTestCloud();
  try {
    const { tenantId, siteId, token } = await site(t);
    const secret = await token();
    const keyPem = await generateKeyPem();
    const post = async (key: string, tok = secret) =>
      await t.call("POST", "/api/agents/enroll", {}, {
        token: tok,
        csr: await createCsr({ keyPem: key, commonName: "enrolling-agent" }),
        hostname: "gate-pc",
        os: "linux/x86_64",
        version: "0.1.0",
      });
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
    assertEquals((await t.cloud.store.listAgents(tenantId)).length, 1, "one agent, not two");
    const audit = await t.cloud.store.listAudit({ action: "agent.enroll_repeat", limit: 10 });
    assertEquals(audit.map((e) => e.target), [agentId]);

    // Another key with the used token: the token is one-shot for anyone else.
    const other = await post(await generateKeyPem());
    assertEquals(other.status, 401);
    assertMatch(String(other.json.message), /already been used/);

    // The same key once the agent is revoked: refused, nothing issued.
    const other2 = await token();
    const key2 = await generateKeyPem();
    const second = await post(key2, other2);
    assertEquals(second.status, 200, second.text);
    await t.cloud.store.revokeAgent(tenantId, second.json.agentId as string);
    assertEquals((await post(key2, other2)).status, 401, "revoked");

    // The same key once the token has expired: refused.
    t.clock.advance(HOUR);
    const late = await post(keyPem);
    assertEquals(late.status, 401);
    assertMatch(String(late.json.message), /already been used/);
    assertEquals((await t.cloud.store.listAgents(tenantId)).length, 2);
  } finally {
    await t.stop();
  }
});

Deno.test("the agent's enroll run again after its answer could not be saved: the same identity", async () => {
  const t = await startTestCloud();
  try {
    await inTempDir(async (dir) => {
      const { tenantId, token } = await site(t);
      const join = formatJoinToken(await token(), t.cloud.pki.agentCaPin);
      const stateDir = `${dir}/state`;
      // The identity cannot be saved: a directory stands where the certificate goes (what a full
      // disk or a read-only file system does to the same write; see store_disk_full_test for a
      // real file-size limit).
      await Deno.mkdir(`${stateDir}/agent.pem`, { recursive: true });
      let failure: unknown;
      try {
        await enroll({ cloud: t.base, token: join, stateDir });
      } catch (e) {
        failure = e;
      }
      assert(failure instanceof EnrollError, String(failure));
      assertMatch(failure.message, /the cloud enrolled this machine as ag-\S+, but its identity/);
      assertMatch(failure.message, /run the same command again/);
      const agentId = /as (ag-\S+),/.exec(failure.message)![1];
      await Deno.stat(`${stateDir}/${PENDING_KEY_FILE}`); // kept for the next attempt

      await Deno.remove(`${stateDir}/agent.pem`, { recursive: true });
      const state = await enroll({ cloud: t.base, token: join, stateDir });
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

Deno.test("the one-line install link of a used token still serves the machine that used it", async () => {
  const t = await startTestCloud();
  try {
    const { tenantId, token } = await site(t);
    const link = (secret: string) =>
      `/api/install/${formatJoinToken(secret, t.cloud.pki.agentCaPin)}.sh`;
    const enrollWith = async (secret: string) => {
      const r = await t.call("POST", "/api/agents/enroll", {}, {
        token: secret,
        csr: await createCsr({ keyPem: await generateKeyPem(), commonName: "enrolling-agent" }),
        hostname: "gate-pc",
        os: "linux/x86_64",
        version: "0.1.0",
      });
      assertEquals(r.status, 200, r.text);
      return r.json.agentId as string;
    };
    // Used, its agent live, the token not expired: the link answers (running it again on the
    // machine whose answer was lost finishes there; anywhere else the cloud says "already used").
    const used = await token();
    await enrollWith(used);
    const again = await t.call("GET", link(used));
    assertEquals(again.status, 200, again.text);
    assert(again.text.includes(formatJoinToken(used, t.cloud.pki.agentCaPin)), "the same token");

    // Used by an agent since revoked: refused as used.
    const revoked = await token();
    await t.cloud.store.revokeAgent(tenantId, await enrollWith(revoked));
    const gone = await t.call("GET", link(revoked));
    assertEquals(gone.status, 401);
    assertMatch(String(gone.json.message), /already been used/);

    // Once the hour has passed: a used token is "used", an unused one "expired".
    const unused = await token();
    t.clock.advance(HOUR);
    const late = await t.call("GET", link(used));
    assertEquals(late.status, 401);
    assertMatch(String(late.json.message), /already been used/);
    const lapsed = await t.call("GET", link(unused));
    assertEquals(lapsed.status, 401);
    assertMatch(String(lapsed.json.message), /expired/);
  } finally {
    await t.stop();
  }
});
