// Which audit entries are also events, and what the event says (the pure mapping).
import assert from "node:assert/strict";
import { eventOfAudit } from "../../../../src/cloud/events/audit_events.ts";
import type { AuditEntry } from "../../../../src/cloud/store/store.ts";

const entry = (e: Partial<AuditEntry>): AuditEntry => ({
  seq: 7,
  tenantId: "t-1",
  at: 0,
  actor: "user:u-1",
  action: "x",
  target: "",
  detail: {},
  ...e,
});

Deno.test("audit events: enrollment used, credentials revoked, a changed device certificate; keyed by the audit entry", () => {
  const enrolled = eventOfAudit(entry({
    action: "agent.enroll",
    actor: "agent:ag-1",
    target: "ag-1",
    detail: { site: "site-1", hostname: "gate-pc" },
  }))!;
  assert.deepEqual(
    [enrolled.type, enrolled.key, enrolled.subject.name, enrolled.subject.siteId],
    ["enrollment.used", "audit:7", "gate-pc", "site-1"],
  );
  assert.equal(
    eventOfAudit(entry({ action: "agent.claim", target: "ag-2" }))!.type,
    "enrollment.used",
  );
  for (
    const action of ["agent.revoke", "api_token.revoke", "api_key.revoke", "cli_session.revoke"]
  ) {
    const ev = eventOfAudit(entry({ action, target: "abc" }))!;
    assert.equal(ev.type, "credential.revoked", action);
    assert.equal(ev.actor, "user:u-1");
  }
  const cert = eventOfAudit(entry({
    action: "device.certificate",
    actor: "system",
    target: "h-1",
    detail: {
      event: "changed",
      host: "10.0.0.5",
      port: 443,
      device: "dev-1",
      fingerprint: "b",
      previous: "a",
    },
  }))!;
  assert.deepEqual([cert.type, cert.subject.name, cert.subject.deviceId], [
    "device.cert_changed",
    "10.0.0.5:443",
    "dev-1",
  ]);
  assert.deepEqual([cert.detail.previous, cert.detail.fingerprint], ["a", "b"]);
});

Deno.test("audit events: most entries raise none; a first-seen certificate and tenantless entries neither", () => {
  assert.equal(eventOfAudit(entry({ action: "tunnel.open" })), null);
  assert.equal(eventOfAudit(entry({ action: "api_token.mint" })), null);
  assert.equal(
    eventOfAudit(entry({ action: "device.certificate", detail: { event: "first_seen" } })),
    null,
  );
  assert.equal(eventOfAudit(entry({ action: "agent.revoke", tenantId: null })), null);
});
