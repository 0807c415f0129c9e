/**
 * The cloud's half of certificate renewal against a real SQLite store and real certificates,
 * with a manual clock: a registered agent gets a 30-day certificate for its own id and the audit
 * says so; a revoked agent, an unknown one and a CSR naming someone else are refused and audited;
 * at Hello an expired certificate is refused with "certificate expired: re-enroll", an old
 * 825-day one is asked to renew at once and is recorded on first sight.
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";
import { registerAgent } from "../../../_fixtures/store_agents.ts";
import { AgentCertIssuer } from "../../../../src/cloud/agent_certs.ts";
import { CertRenewal } from "../../../../src/cloud/control/cert_renewal.ts";
import {
  certInfo,
  createCA,
  createCsr,
  generateKeyPem,
  signClientCsr,
  spkiPin,
} from "../../../../src/shared/crypto/pki.ts";

const DAY = 86_400_000;

async function setup() {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const store = await openSqliteStore({ path: ":memory:", clock });
  const ca = await createCA({ commonName: "agent CA", now: clock.now() });
  const caPin = await spkiPin(ca.certPem);
  const issuer = new AgentCertIssuer({ ca, caPin, days: 30, clock });
  const renewal = new CertRenewal({
    store,
    issuer,
    caPem: () => ca.certPem,
    clock,
    log: createLogger({ role: "test", level: "silent" }),
    node: "node-1",
  });
  const tenant = await store.createTenant({ name: "T" });
  const site = await store.createSite({ tenantId: tenant.id, name: "S" });
  const enrollAgent = (id: string) =>
    registerAgent(store, clock, { tenantId: tenant.id, siteId: site.id }, { id });
  const csrFor = async (cn: string) =>
    await createCsr({ keyPem: await generateKeyPem(), commonName: cn });
  const der = (pem: string) =>
    Uint8Array.from(
      atob(pem.replace(/-----[A-Z ]+-----|\s/g, "")),
      (c) => c.charCodeAt(0),
    );
  return { clock, store, ca, caPin, issuer, renewal, tenant, enrollAgent, csrFor, der };
}

async function actions(store: Store, tenantId: string): Promise<string[]> {
  return (await store.listAudit({ tenantId, limit: 50 })).map((e) => e.action).reverse();
}

Deno.test("renewal: a registered agent gets a 30-day certificate for its own id, recorded and audited", async () => {
  const { clock, store, caPin, renewal, tenant, enrollAgent, csrFor } = await setup();
  try {
    await enrollAgent("ag-one");
    const r = await renewal.renew("ag-one", await csrFor("ag-one"));
    assertEquals(r.code, "");
    const info = certInfo(r.certificate);
    assertEquals(info.subjectCN, "ag-one");
    assertEquals(info.notAfter.getTime(), clock.now() + 30 * DAY);
    const agent = (await store.getAgent("ag-one"))!;
    assertEquals(agent.certSerial, info.serialHex);
    assertEquals(agent.certNotAfter, info.notAfter.getTime());
    assertEquals(agent.certCa, caPin);
    const [event] = await store.listAudit({ tenantId: tenant.id, action: "agent.cert.renew" });
    assertEquals(event.target, "ag-one");
    assertEquals(event.detail.serial, info.serialHex);
    assertEquals(event.detail.previousSerial, "00");
  } finally {
    await store.close();
  }
});

Deno.test("renewal: revoked, unknown and other-subject requests are refused, audited, and change nothing", async () => {
  const { store, renewal, tenant, enrollAgent, csrFor } = await setup();
  try {
    await enrollAgent("ag-rev");
    await enrollAgent("ag-two");
    assert(await store.revokeAgent(tenant.id, "ag-rev"));
    const revoked = await renewal.renew("ag-rev", await csrFor("ag-rev"));
    assertEquals([revoked.code, revoked.error, revoked.certificate], [
      "agent_revoked",
      "agent revoked",
      "",
    ]);
    assertEquals((await store.getAgent("ag-rev"))!.certSerial, "00");

    const other = await renewal.renew("ag-two", await csrFor("ag-rev"));
    assertEquals(other.code, "renewal_refused");
    assertEquals(other.error, "certificate request subject does not match the agent");
    const garbage = await renewal.renew("ag-two", "not a CSR");
    assertEquals(garbage.code, "renewal_refused");
    assertEquals((await store.getAgent("ag-two"))!.certSerial, "00");

    const ghost = await renewal.renew("ag-ghost", await csrFor("ag-ghost"));
    assertEquals(ghost.code, "unknown_cn");
    assertEquals(
      (await actions(store, tenant.id)).filter((a) => a.startsWith("agent.cert")),
      ["agent.cert.renew_refused", "agent.cert.renew_refused", "agent.cert.renew_refused"],
    );
  } finally {
    await store.close();
  }
});

Deno.test("renewal: an agent asking too often is refused without an audit entry each time", async () => {
  const { store, renewal, tenant, enrollAgent, csrFor } = await setup();
  try {
    await enrollAgent("ag-busy");
    const codes = [];
    for (let i = 0; i < 7; i++) {
      codes.push((await renewal.renew("ag-busy", await csrFor("ag-busy"))).code);
    }
    assertEquals(codes, ["", "", "", "", "", "rate_limited", "rate_limited"]);
    const audited = await store.listAudit({ tenantId: tenant.id, action: "agent.cert.renew" });
    assertEquals(audited.length, 5);
  } finally {
    await store.close();
  }
});

Deno.test("hello: expired certificates are refused with the re-enroll words; old long-lived ones renew at once", async () => {
  const { clock, store, ca, caPin, renewal, tenant, enrollAgent, csrFor, der } = await setup();
  try {
    const agent = await enrollAgent("ag-old");
    // An agent enrolled before short-lived certificates: 825 days, nothing recorded.
    const { certPem: oldPem } = await signClientCsr({
      ca,
      csrPem: await csrFor("x"),
      commonName: "ag-old",
      now: clock.now(),
    });
    const first = await renewal.hello(agent, der(oldPem));
    assertEquals(first.refused, null);
    assertEquals(first.renewNow, true, "an 825-day certificate is replaced at once");
    const seen = (await store.getAgent("ag-old"))!;
    assertEquals(seen.certSerial, certInfo(oldPem).serialHex, "recorded on first sight");
    assertEquals(seen.certCa, caPin);

    // A fresh 30-day certificate: nothing to do until two thirds of its life.
    const r = await renewal.renew("ag-old", await csrFor("ag-old"));
    const fresh = await renewal.hello((await store.getAgent("ag-old"))!, der(r.certificate));
    assertEquals([fresh.refused, fresh.renewNow], [null, false]);

    // The old one presented again later is not recorded over the newer one.
    await renewal.hello((await store.getAgent("ag-old"))!, der(oldPem));
    assertEquals((await store.getAgent("ag-old"))!.certSerial, certInfo(r.certificate).serialHex);

    clock.advance(30 * DAY + 1);
    const late = await renewal.hello((await store.getAgent("ag-old"))!, der(r.certificate));
    assertEquals(late.refused?.message, "certificate expired: re-enroll");
    assertEquals(late.refused?.grpcStatus, 7);
    assert((await actions(store, tenant.id)).includes("agent.reject_cert_expired"));

    // A certificate from another CA is replaced at once too.
    const other = await createCA({ commonName: "another CA", now: clock.now() });
    const { certPem: foreign } = await signClientCsr({
      ca: other,
      csrPem: await csrFor("x"),
      commonName: "ag-old",
      validDays: 30,
      now: clock.now(),
    });
    assertEquals((await renewal.hello(agent, der(foreign))).renewNow, true);
  } finally {
    await store.close();
  }
});
