/**
 * Events that mirror an audit entry (issue 15 item 6): an enrollment token used (`agent.enroll`,
 * or an embedded agent's `agent.claim`), a credential revoked (an agent, an API token or key, a
 * CLI session, a license, an enrollment token, a handle) and an HTTPS device's certificate
 * changed (`device.certificate` with event `changed`, which the proxy already audits). Wrapping
 * the store's `appendAudit` keeps this in one place: every caller that audits also raises the
 * event, keyed by the audit entry's sequence number, so it exists once.
 * @module
 */
import type { AuditEntry, NewTenantEvent, Store } from "../store/store.ts";
import type { EventProducer } from "./producer.ts";

/** Audit actions that revoke a credential, and what the credential is called. */
const REVOCATIONS: Record<string, string> = {
  "agent.revoke": "agent",
  "api_token.revoke": "API token",
  "api_key.revoke": "API key",
  "cli_session.revoke": "CLI session",
  "license.revoke": "license",
  "enrollment_token.revoke": "enrollment token",
  "handle.revoke": "handle",
};

const text = (v: unknown): string | undefined => typeof v === "string" && v ? v : undefined;

/** The event an audit entry raises, or null (most raise none). */
export function eventOfAudit(a: AuditEntry): NewTenantEvent | null {
  if (!a.tenantId) return null;
  const base = { tenantId: a.tenantId, actor: a.actor, key: `audit:${a.seq}` };
  if (a.action === "agent.enroll" || a.action === "agent.claim") {
    return {
      ...base,
      type: "enrollment.used",
      subject: {
        name: text(a.detail.hostname) ?? a.target,
        agentId: a.target,
        siteId: text(a.detail.site),
        ...(text(a.detail.device) ? { deviceId: text(a.detail.device) } : {}),
      },
      detail: { how: a.action === "agent.claim" ? "claim" : "enrollment token" },
    };
  }
  const kind = REVOCATIONS[a.action];
  if (kind) {
    return {
      ...base,
      type: "credential.revoked",
      subject: {
        name: `${kind} ${a.target}`,
        ...(a.action === "agent.revoke" ? { agentId: a.target } : {}),
      },
      detail: { kind, id: a.target },
    };
  }
  if (a.action === "device.certificate" && a.detail.event === "changed") {
    const host = text(a.detail.host);
    const port = typeof a.detail.port === "number" ? a.detail.port : undefined;
    return {
      ...base,
      type: "device.cert_changed",
      subject: {
        name: `${host ?? "device"}:${port ?? ""}`,
        deviceId: text(a.detail.device),
        host,
        port,
      },
      detail: {
        handle: a.target,
        fingerprint: a.detail.fingerprint,
        previous: a.detail.previous,
        certificateSubject: a.detail.subject,
      },
    };
  }
  return null;
}

/** `store` whose `appendAudit` also raises the entry's event (after the entry is written). */
export function withAuditEvents<S extends Store>(store: S, events: EventProducer): S {
  return new Proxy(store, {
    get(target, prop) {
      if (prop === "appendAudit") {
        return async (e: Parameters<Store["appendAudit"]>[0]) => {
          const entry = await target.appendAudit(e);
          const ev = eventOfAudit(entry);
          // Awaited (a short CLI exits right after), never failing the audited action.
          if (ev) await events.emitQuietly(ev);
          return entry;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}
