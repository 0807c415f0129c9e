/**
 * Agent certificates are short-lived (30 days by default, `--agent-cert-days`) and renewed by the
 * agents themselves over the control stream. Every path that gives an agent a certificate —
 * enrollment, embedded-agent claim, renewal — issues it here, so lifetime, issuing CA and issue
 * date (the injectable clock) are decided in one place, and the facts the cloud keeps about
 * each agent's certificate (serial, expiry, issuing CA) are computed the same way.
 * @module
 */
import { certInfo, issuedBy, signClientCsr } from "../shared/crypto/pki.ts";
import type { Clock } from "../shared/clock.ts";
import type { AgentCert } from "./store/store.ts";

/** Default lifetime of an agent certificate, in days. */
export const DEFAULT_AGENT_CERT_DAYS = 30;

const DAY_MS = 86_400_000;

/** A certificate issued to an agent, with the facts the store keeps about it. */
export interface IssuedAgentCert extends AgentCert {
  /** The certificate, PEM. */
  certPem: string;
}

/** Issues agent certificates on the agent CA and recognises which CA issued one. */
export class AgentCertIssuer {
  readonly #ca: { certPem: string; keyPem: string };
  readonly #caPin: string;
  readonly #clock: Clock;
  /** Lifetime of new agent certificates, in days. */
  readonly days: number;

  /** An issuer on `ca` (whose pin is `caPin`) for certificates of `days` days. */
  constructor(o: {
    ca: { certPem: string; keyPem: string };
    caPin: string;
    days: number;
    clock: Clock;
  }) {
    this.#ca = o.ca;
    this.#caPin = o.caPin;
    this.days = o.days;
    this.#clock = o.clock;
  }

  /** Signs `csrPem` for `agentId` (the subject is the id, whatever the CSR says). */
  async issue(csrPem: string, agentId: string): Promise<IssuedAgentCert> {
    const { certPem } = await signClientCsr({
      ca: this.#ca,
      csrPem,
      commonName: agentId,
      validDays: this.days,
      now: this.#clock.now(),
    });
    const info = certInfo(certPem);
    return { certPem, serial: info.serialHex, notAfter: info.notAfter.getTime(), ca: this.#caPin };
  }

  /** The facts of a certificate an agent presented: serial, expiry, issuing CA ("" if unknown). */
  async describe(certPem: string): Promise<AgentCert & { lifetimeMs: number }> {
    const info = certInfo(certPem);
    return {
      serial: info.serialHex,
      notAfter: info.notAfter.getTime(),
      ca: await issuedBy(certPem, this.#ca.certPem) ? this.#caPin : "",
      lifetimeMs: info.notAfter.getTime() - info.notBefore.getTime(),
    };
  }

  /**
   * True when a presented certificate should be replaced at once, whatever its age: it lives
   * longer than the policy allows (an 825-day certificate from before short-lived ones) or was
   * not issued by the current agent CA.
   */
  wantsRenewal(cert: { ca: string; lifetimeMs: number }): boolean {
    return cert.ca !== this.#caPin || cert.lifetimeMs > (this.days + 1) * DAY_MS;
  }
}

/** An agent's certificate as the API and the Agents page show it. */
export interface AgentCertView {
  /** Serial (hex) of the newest known certificate. */
  serial: string;
  /** Expiry (ISO 8601), null when unknown (enrolled before expiries were kept, not seen since). */
  expiresAt: string | null;
  /** Whether the current agent CA issued it ("unknown" until seen). */
  ca: "current" | "other" | "unknown";
  /** `sha256:<hex>` pin of the issuing CA, null when unknown. */
  caPin: string | null;
}

/** The certificate view of an agent record, given the current agent CA's pin. */
export function agentCertView(
  a: { certSerial: string; certNotAfter: number | null; certCa: string | null },
  currentCaPin: string,
): AgentCertView {
  return {
    serial: a.certSerial,
    expiresAt: a.certNotAfter === null ? null : new Date(a.certNotAfter).toISOString(),
    ca: a.certCa === null ? "unknown" : a.certCa === currentCaPin ? "current" : "other",
    caPin: a.certCa,
  };
}
