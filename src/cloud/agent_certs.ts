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

/** A CA certificate and key with its pin. */
export interface IssuingCa {
  certPem: string;
  keyPem: string;
  pin: string;
}

/**
 * Issues agent certificates and recognises which CA issued one. Enrollments are signed by the
 * primary agent CA, renewals by the CA of the rotation phase (ca_rotation.ts); both can change
 * while the cloud runs ({@linkcode AgentCertIssuer.setCas}).
 */
export class AgentCertIssuer {
  #primary: IssuingCa;
  #renewals: IssuingCa;
  #trusted: IssuingCa[];
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
    this.#primary = { ...o.ca, pin: o.caPin };
    this.#renewals = this.#primary;
    this.#trusted = [this.#primary];
    this.days = o.days;
    this.#clock = o.clock;
  }

  /** Switches CAs (a rotation phase changed): who signs enrollments, renewals, who is trusted. */
  setCas(cas: { primary: IssuingCa; renewals: IssuingCa; trusted: IssuingCa[] }): void {
    this.#primary = cas.primary;
    this.#renewals = cas.renewals;
    this.#trusted = cas.trusted;
  }

  /** Pin of the CA that signs renewals: an agent certificate from it is up to date. */
  get renewalsPin(): string {
    return this.#renewals.pin;
  }

  /**
   * Signs `csrPem` for `agentId` (the subject is the id, whatever the CSR says): with the primary
   * CA for an enrollment, with the phase's renewal CA when `renewal` is set.
   */
  async issue(csrPem: string, agentId: string, renewal = false): Promise<IssuedAgentCert> {
    const ca = renewal ? this.#renewals : this.#primary;
    const { certPem } = await signClientCsr({
      ca,
      csrPem,
      commonName: agentId,
      validDays: this.days,
      now: this.#clock.now(),
    });
    const info = certInfo(certPem);
    return { certPem, serial: info.serialHex, notAfter: info.notAfter.getTime(), ca: ca.pin };
  }

  /** The facts of a certificate an agent presented: serial, expiry, issuing CA ("" if unknown). */
  async describe(certPem: string): Promise<AgentCert & { lifetimeMs: number }> {
    const info = certInfo(certPem);
    let ca = "";
    for (const t of this.#trusted) {
      if (await issuedBy(certPem, t.certPem)) {
        ca = t.pin;
        break;
      }
    }
    return {
      serial: info.serialHex,
      notAfter: info.notAfter.getTime(),
      ca,
      lifetimeMs: info.notAfter.getTime() - info.notBefore.getTime(),
    };
  }

  /**
   * True when a presented certificate should be replaced at once, whatever its age: it lives
   * longer than the policy allows (an 825-day certificate from before short-lived ones) or was
   * not issued by the CA that signs renewals now (a rotation is under way).
   */
  wantsRenewal(cert: { ca: string; lifetimeMs: number }): boolean {
    return cert.ca !== this.#renewals.pin || cert.lifetimeMs > (this.days + 1) * DAY_MS;
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
