/**
 * The cloud's half of agent certificate renewal over the control stream. At Hello it looks at
 * the certificate the agent presented: one past its expiry (by the cloud's clock) is refused with
 * "certificate expired: re-enroll"; an old long-lived one, or one from another CA, gets
 * `renew_certificate` in Welcome so the agent renews at once; the first sight of a certificate
 * the cloud did not record (agents enrolled before expiries were kept) is recorded. On a
 * RenewRequest it checks the agent is registered and not revoked and the CSR's subject is the
 * agent's id, issues the certificate, records it and audits the renewal — or audits the refusal.
 * @module
 */
import { certPemFromDer, csrCommonName, PkiError } from "../../shared/crypto/pki.ts";
import { AppError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { Clock } from "../../shared/clock.ts";
import type { CertificatePolicy, RenewResult } from "../../shared/protocol/control.ts";
import type { Agent, Store } from "../store/store.ts";
import type { AgentCertIssuer } from "../agent_certs.ts";
import { RateLimiter } from "../tenancy/rate_limit.ts";

/** Audit action of a successful renewal. */
export const RENEW_ACTION = "agent.cert.renew";
/** Audit action of a refused renewal. */
export const RENEW_REFUSED_ACTION = "agent.cert.renew_refused";
/** Audit action of a control stream refused because the certificate had expired. */
export const EXPIRED_ACTION = "agent.reject_cert_expired";

/** What the control listener should do with a Hello, certificate-wise. */
export interface HelloVerdict {
  /** Set when the stream must be refused. */
  refused: AppError | null;
  /** Whether Welcome asks the agent to renew now. */
  renewNow: boolean;
  /** Serial (hex) of the presented certificate, "" when the TLS stack did not expose it. */
  serial: string;
}

/** What {@linkcode CertRenewal} needs. */
export interface CertRenewalDeps {
  store: Store;
  issuer: AgentCertIssuer;
  /** The CA bundle agents should trust (sent with each renewed certificate). */
  caPem: () => string;
  clock: Clock;
  log: Logger;
  /** This cloud node's name (audited). */
  node: string;
}

/** Renewals one agent may ask for per {@linkcode RENEWAL_WINDOW_MS} (a rotation needs two). */
export const RENEWALS_PER_WINDOW = 5;
/** The window of {@linkcode RENEWALS_PER_WINDOW}. */
export const RENEWAL_WINDOW_MS = 10 * 60_000;

/** Certificate checks at Hello and renewals on the stream, for one control listener. */
export class CertRenewal {
  readonly #d: CertRenewalDeps;
  readonly #limit: RateLimiter;

  /** Renewal for one control listener. */
  constructor(d: CertRenewalDeps) {
    this.#d = d;
    this.#limit = new RateLimiter(RENEWALS_PER_WINDOW, RENEWAL_WINDOW_MS, d.clock);
  }

  /** Judges the certificate `agent` presented (its DER, from the TLS stack). */
  async hello(agent: Agent, peerDer: Uint8Array | null): Promise<HelloVerdict> {
    if (!peerDer) return { refused: null, renewNow: false, serial: "" };
    const d = this.#d;
    const cert = await d.issuer.describe(certPemFromDer(peerDer));
    if (cert.notAfter <= d.clock.now()) {
      await d.store.appendAudit({
        tenantId: agent.tenantId,
        actor: `agent:${agent.id}`,
        action: EXPIRED_ACTION,
        target: agent.id,
        detail: { serial: cert.serial, notAfter: new Date(cert.notAfter).toISOString() },
      });
      d.log.warn({ agent: agent.id, serial: cert.serial }, "control stream refused: expired");
      return { refused: new AppError("certificate_expired"), renewNow: false, serial: cert.serial };
    }
    // Only the first sight is recorded (agents enrolled before expiries were kept): afterwards
    // the record follows what the cloud issued, even while an agent still presents an older one.
    if (agent.certNotAfter === null && cert.ca) await d.store.recordAgentCert(agent.id, cert);
    return { refused: null, renewNow: d.issuer.wantsRenewal(cert), serial: cert.serial };
  }

  /**
   * The policy to send an agent now: the CAs to trust, and whether to renew — given at Hello
   * (`renewNow`), or from its recorded certificate's CA when a rotation phase changes.
   */
  async policy(agentId: string, renewNow?: boolean): Promise<CertificatePolicy> {
    let renew = renewNow;
    if (renew === undefined) {
      const agent = await this.#d.store.getAgent(agentId);
      renew = !!agent?.certCa && agent.certCa !== this.#d.issuer.renewalsPin;
    }
    return { renewCertificate: renew, caCertificates: this.#d.caPem() };
  }

  /** Answers a RenewRequest of `agentId` (whose stream is authenticated) with `csrPem`. */
  async renew(agentId: string, csrPem: string): Promise<RenewResult> {
    const d = this.#d;
    // A misbehaving agent must not fill the audit log or keep the CA signing: no audit here.
    if (!this.#limit.take(agentId)) {
      d.log.warn({ agent: agentId }, "certificate renewal refused: too many requests");
      const err = new AppError("rate_limited");
      return { certificate: "", caCertificate: "", code: err.code, error: err.message };
    }
    const agent = await d.store.getAgent(agentId);
    const refuse = async (err: AppError, reason: string): Promise<RenewResult> => {
      await d.store.appendAudit({
        tenantId: agent?.tenantId ?? null,
        actor: `agent:${agentId}`,
        action: RENEW_REFUSED_ACTION,
        target: agentId,
        detail: { reason, node: d.node },
      });
      d.log.warn({ agent: agentId, reason }, "certificate renewal refused");
      return { certificate: "", caCertificate: "", code: err.code, error: err.message };
    };
    if (!agent) return await refuse(new AppError("unknown_cn"), "unknown agent");
    if (agent.revokedAt !== null) return await refuse(new AppError("agent_revoked"), "revoked");
    if (csrPemTooLarge(csrPem) || csrCommonName(csrPem) !== agentId) {
      return await refuse(
        new AppError("renewal_refused", "certificate request subject does not match the agent"),
        "subject mismatch",
      );
    }
    let issued;
    try {
      issued = await d.issuer.issue(csrPem, agentId, true);
    } catch (e) {
      if (!(e instanceof PkiError)) throw e;
      return await refuse(
        new AppError("renewal_refused", `invalid certificate request: ${e.message}`),
        "invalid CSR",
      );
    }
    // Recorded only while the agent is not revoked: a revocation racing this renewal wins.
    if (!await d.store.recordAgentCert(agentId, issued)) {
      return await refuse(new AppError("agent_revoked"), "revoked");
    }
    await d.store.appendAudit({
      tenantId: agent.tenantId,
      actor: `agent:${agentId}`,
      action: RENEW_ACTION,
      target: agentId,
      detail: {
        serial: issued.serial,
        previousSerial: agent.certSerial,
        notAfter: new Date(issued.notAfter).toISOString(),
        ca: issued.ca,
        node: d.node,
      },
    });
    d.log.info(
      { agent: agentId, serial: issued.serial, notAfter: new Date(issued.notAfter).toISOString() },
      "agent certificate renewed",
    );
    return { certificate: issued.certPem, caCertificate: d.caPem(), code: "", error: "" };
  }
}

function csrPemTooLarge(csrPem: string): boolean {
  return csrPem.length > 8192;
}
