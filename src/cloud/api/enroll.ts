/**
 * `POST /api/agents/enroll`: an installer exchanges a site's one-shot enrollment token and a CSR
 * (made on the agent machine; the key never leaves it) for a certificate whose CN is the new
 * agent's id, plus the agent CA and the control endpoint. Reused, expired or unknown tokens get
 * 401 with a clear message and an audit entry; nothing is half-written. One repeat is not a
 * reuse: the machine that used the token — the same key, proven by its CSR's signature — may ask
 * again until the token expires and gets the same agent with a fresh certificate, because its
 * first answer can be lost after the token was spent (a dropped connection, a full disk, a
 * crash) and a one-shot token would otherwise leave the technician with nothing.
 * Also `GET /api/agents/ca`: the agent CA certificate, which the agent checks against the pin in
 * its token BEFORE it sends the token anywhere.
 * @module
 */
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import { newId } from "../../shared/ids.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import { PkiError, spkiPin } from "../../shared/crypto/pki.ts";
import type { Logger } from "../../shared/log.ts";
import type { Agent, NewAgent, Store } from "../store/store.ts";
import type { IssuedAgentCert } from "../agent_certs.ts";
import type { CloudPki } from "../pki.ts";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { auditAnonymousRefusal } from "../tenancy/anonymous_audit.ts";

/** What every request for an agent certificate carries besides its credential. */
export const csrFields = {
  csr: z.string().min(100).max(8192).includes("BEGIN CERTIFICATE REQUEST"),
  hostname: z.string().max(255).default(""),
  os: z.string().max(64).default(""),
  version: z.string().max(64).default(""),
};

/** The request body of POST /api/agents/enroll. */
export const enrollRequest = z.object({
  token: z.string().regex(/^enr_[A-Za-z0-9_-]{43}$/, "expected an enrollment token enr_…"),
  ...csrFields,
});

/**
 * Mints a new agent id and signs the request's CSR for it with the agent CA (a bad CSR is a 400):
 * the agent record to store and the certificate to hand back.
 */
export async function prepareAgent(
  pki: CloudPki,
  body: { csr: string; hostname: string; os: string; version: string },
): Promise<{ agent: NewAgent; certPem: string }> {
  const id = newId("ag");
  let signed: Awaited<ReturnType<typeof pki.agentCerts.issue>>;
  try {
    signed = await pki.agentCerts.issue(body.csr, id);
  } catch (e) {
    if (e instanceof PkiError) throw new AppError("bad_request", `invalid CSR: ${e.message}`);
    throw e;
  }
  const { hostname, os, version } = body;
  return {
    agent: {
      id,
      hostname,
      os,
      version,
      certSerial: signed.serial,
      certNotAfter: signed.notAfter,
      certCa: signed.ca,
    },
    certPem: signed.certPem,
  };
}

/** The answer that hands a new agent its identity. */
export function identityResponse(
  deps: { pki: CloudPki; controlEndpoint: () => string },
  agentId: string,
  siteId: string,
  certPem: string,
): EnrollResponse {
  return {
    agentId,
    siteId,
    certificate: certPem,
    caCertificate: deps.pki.agentCa.certPem,
    caPin: deps.pki.agentCaPin,
    controlEndpoint: deps.controlEndpoint(),
  };
}

/** The response body of a successful enrollment. */
export interface EnrollResponse {
  agentId: string;
  siteId: string;
  certificate: string;
  caCertificate: string;
  caPin: string;
  controlEndpoint: string;
}

/** Performs an enrollment; throws AppError (401/400) on refusal. */
export async function enroll(
  deps: {
    store: Store;
    pki: CloudPki;
    controlEndpoint: () => string;
    log: Logger;
    clock?: Clock;
  },
  body: z.infer<typeof enrollRequest>,
  remote: string,
): Promise<EnrollResponse> {
  const hash = await hashToken(body.token);
  const refuse = async (reason: "unknown" | "used" | "expired"): Promise<never> => {
    const code = reason === "used"
      ? "enrollment_token_used"
      : reason === "expired"
      ? "enrollment_token_expired"
      : "enrollment_token_invalid";
    const token = reason === "unknown" ? null : await deps.store.getEnrollmentToken(hash);
    // A refused token is an identity-less refusal: sampled per address (anonymous_audit.ts).
    const now = (deps.clock ?? systemClock).now();
    if (auditAnonymousRefusal(deps.store, remote, now)) {
      await deps.store.appendAudit({
        tenantId: token?.tenantId ?? null,
        actor: `ip:${remote}`,
        action: "agent.enroll_denied",
        target: `enrollment:${hash.slice(0, 12)}`,
        detail: { reason, hostname: body.hostname },
      });
    }
    deps.log.warn({ reason, remote }, "enrollment refused");
    throw new AppError(code);
  };
  // An unknown token costs no certificate signing (the consume below stays the atomic check).
  if (!await deps.store.getEnrollmentToken(hash)) return await refuse("unknown");
  const { agent, certPem } = await prepareAgent(deps.pki, body);
  const agentId = agent.id;
  const keyPin = await spkiPin(certPem);
  const r = await deps.store.consumeEnrollmentToken(hash, { ...agent, keyPin });
  if (!r.ok && r.reason === "used") {
    const again = await repeatEnrollment(deps, hash, keyPin, body, remote);
    if (again) return again;
  }
  if (!r.ok) return await refuse(r.reason);
  await deps.store.appendAudit({
    tenantId: r.agent.tenantId,
    actor: `agent:${agentId}`,
    action: "agent.enroll",
    target: agentId,
    detail: {
      site: r.agent.siteId,
      hostname: body.hostname,
      os: body.os,
      version: body.version,
      serial: agent.certSerial,
      remote,
    },
  });
  deps.log.info(
    { agent: agentId, site: r.agent.siteId, hostname: body.hostname },
    "agent enrolled",
  );
  return identityResponse(deps, agentId, r.agent.siteId, certPem);
}

/**
 * A fresh certificate for an agent whose first answer was lost (enrollment's and claim's repeat),
 * signed for the repeat's CSR; null when the agent is gone or revoked, or when `notExpiredAt` is
 * given and the agent's newest certificate had expired by then.
 */
export async function reissue(
  deps: { store: Store; pki: CloudPki },
  agentId: string,
  csr: string,
  notExpiredAt?: number,
): Promise<{ agent: Agent; signed: IssuedAgentCert } | null> {
  const agent = await deps.store.getAgent(agentId);
  if (!agent || agent.revokedAt !== null) return null;
  if (notExpiredAt !== undefined && agent.certNotAfter !== null) {
    if (agent.certNotAfter <= notExpiredAt) return null;
  }
  const signed = await deps.pki.agentCerts.issue(csr, agent.id);
  // Recorded only while the agent is not revoked: a revocation racing this wins.
  if (!await deps.store.recordAgentCert(agent.id, signed)) return null;
  return { agent, signed };
}

/**
 * The same machine enrolling again with a token it used (see the module comment): its agent with
 * a fresh certificate for the same key, or null (then the token is "already used") when the key
 * differs, the token has expired, or the agent is gone or revoked.
 */
async function repeatEnrollment(
  deps: Parameters<typeof enroll>[0],
  hash: string,
  keyPin: string,
  body: z.infer<typeof enrollRequest>,
  remote: string,
): Promise<EnrollResponse | null> {
  const token = await deps.store.getEnrollmentToken(hash);
  const now = (deps.clock ?? systemClock).now();
  if (!token?.agentId || token.keyPin !== keyPin || token.expiresAt <= now) return null;
  const again = await reissue(deps, token.agentId, body.csr);
  if (!again) return null;
  const { agent, signed } = again;
  await deps.store.appendAudit({
    tenantId: agent.tenantId,
    actor: `agent:${agent.id}`,
    action: "agent.enroll_repeat",
    target: agent.id,
    detail: {
      site: agent.siteId,
      hostname: body.hostname,
      serial: signed.serial,
      previousSerial: agent.certSerial,
      remote,
    },
  });
  deps.log.info(
    { agent: agent.id, site: agent.siteId, hostname: body.hostname },
    "agent enrolled again with its token and key (its first answer was lost)",
  );
  return identityResponse(deps, agent.id, agent.siteId, signed.certPem);
}
