/**
 * The agent renews its own certificate over the control stream, so nobody at a site ever has to.
 * At each Welcome it looks at the certificate it connected with: past two thirds of its life (or
 * when the cloud's CertificatePolicy asks: an old long-lived certificate, or a CA rotation) it makes a new key pair here, sends a
 * CSR for its own id, checks the answer (issued by the CA it trusts, for its key, its id, not
 * expired) and writes it as the next pair (cert_files.ts). The new pair is used from the next
 * reconnect and replaces the old one once it has connected; a renewed pair that has connected is
 * promoted at that Welcome. The policy also carries the CA bundle to trust (a rotation), which is
 * written to `ca.pem`. Before two thirds of the life it waits (re-checking at least every
 * 6 h); a refusal or no answer is retried later, never in a loop. A renewed pair or CA bundle
 * that cannot be written (a full disk) is asked for again after 10 s, then twice as long each
 * time up to an hour, within the same session: a session lasts weeks, and a certificate whose
 * renewal was dropped would expire under it and leave the site unreachable until re-enrolled.
 * @module
 */
import { certFacts, keyMatchesCert, splitPemCerts } from "../shared/crypto/cert_reader.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import type { AgentMessage, CertificatePolicy, RenewResult } from "../shared/protocol/control.ts";
import { join } from "node:path";
import { writeSecretFile } from "../shared/crypto/files.ts";
import { osMessage } from "../shared/os_error.ts";
import type { AgentState } from "./state.ts";
import { promotePair, saveNextPair } from "./cert_files.ts";

const HOUR_MS = 3_600_000;
/** The longest wait between two looks at the certificate's age. */
const MAX_WAIT_MS = 6 * HOUR_MS;
/** How long an answer to a RenewRequest may take before it is given up. */
const ANSWER_MS = 60_000;
/** Wait after a refused or unanswered renewal. */
const RETRY_MS = HOUR_MS;
/** The first wait after a renewal whose result could not be written (then doubled, to RETRY_MS). */
export const WRITE_RETRY_FIRST_MS = 10_000;

/**
 * The certificate toolkit, loaded when a certificate is made or checked (a renewal), not for
 * reading dates: `cert_reader.ts` does that without `@peculiar/x509` (idle RSS, README
 * "Performance").
 */
const pki = () => import("../shared/crypto/pki.ts");

/** True when one of the CAs in the PEM bundle `caPem` issued `certPem`. */
async function issuedByAny(certPem: string, caPem: string): Promise<boolean> {
  const { issuedBy } = await pki();
  for (const ca of splitPemCerts(caPem)) if (await issuedBy(certPem, ca)) return true;
  return false;
}

/** When a certificate valid from `notBefore` to `notAfter` (epoch ms) should be renewed. */
export function renewalDue(notBefore: number, notAfter: number): number {
  return notBefore + Math.floor((notAfter - notBefore) * 2 / 3);
}

/** Renews the agent's certificate during control sessions. */
export class CertRenewer {
  readonly #o: { stateDir: string; log: Logger; clock: Clock };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inflight: { keyPem: string; state: AgentState; send: (m: AgentMessage) => void } | null = null;
  /** Set once a renewed pair is on disk, until a session connects with it. */
  #renewed = false;
  /** The retry after a failed write, and the wait before the next one (0: none failed). */
  #writeRetry: ReturnType<typeof setTimeout> | undefined;
  #writeWait = 0;

  /** A renewer writing into `stateDir`. */
  constructor(o: { stateDir: string; log: Logger; clock: Clock }) {
    this.#o = o;
  }

  /**
   * A session was welcomed with `state`'s pair: promotes a renewed pair, then renews when past
   * two thirds of the life, or plans to.
   */
  async welcome(state: AgentState, send: (m: AgentMessage) => void): Promise<void> {
    this.end(); // before any await: the policy that follows Welcome must find a clean slate
    this.#renewed = false;
    if (state.pairSource === "next") {
      await promotePair(this.#o.stateDir, state);
      this.#o.log.info(
        { serial: certFacts(state.certPem).serialHex },
        "renewed certificate in use; the old one is removed",
      );
    }
    this.#plan(state, false, send);
  }

  /**
   * The cloud's certificate policy: trust its CA bundle from now on (written to `ca.pem`, used
   * from the next connection) and renew at once when asked.
   */
  async policy(
    p: CertificatePolicy,
    state: AgentState,
    send: (m: AgentMessage) => void,
  ): Promise<void> {
    const bundle = splitPemCerts(p.caCertificates);
    if (bundle.length && bundle.join("") !== splitPemCerts(state.caPem).join("")) {
      // It came over the control stream, whose server chained to the CAs this agent trusts.
      try {
        await writeSecretFile(join(this.#o.stateDir, "ca.pem"), bundle.join(""));
      } catch (e) {
        this.#writeFailed("the trusted agent CAs", e, () => this.policy(p, state, send));
        return;
      }
      this.#writeWait = 0;
      state.caPem = bundle.join("");
      this.#o.log.info({ cas: bundle.length }, "trusted agent CAs updated");
    }
    // Even over a renewed pair not yet used: a rotation may have moved on (e.g. rolled back).
    if (p.renewCertificate) await this.#request(state, send, true);
  }

  /** Handles the cloud's answer to our RenewRequest. */
  async result(r: RenewResult): Promise<void> {
    const pending = this.#inflight;
    if (!pending) return;
    this.#inflight = null;
    clearTimeout(this.#timer);
    const { log, clock, stateDir } = this.#o;
    if (r.code || !r.certificate) {
      log.warn({ code: r.code, reason: r.error }, "certificate renewal refused by the cloud");
      this.#timer = setTimeout(() => this.#plan(pending.state, true, pending.send), RETRY_MS);
      return;
    }
    const { certInfo } = await pki();
    const info = (() => {
      try {
        return certInfo(r.certificate);
      } catch {
        return null;
      }
    })();
    const ok = info !== null && info.subjectCN === pending.state.agentId &&
      info.notAfter.getTime() > clock.now() &&
      await issuedByAny(r.certificate, pending.state.caPem) &&
      await keyMatchesCert(pending.keyPem, r.certificate);
    if (!ok) {
      log.error("the renewed certificate does not match this agent or its CA; keeping the old one");
      return;
    }
    try {
      await saveNextPair(stateDir, { keyPem: pending.keyPem, certPem: r.certificate });
    } catch (e) {
      this.#writeFailed(
        "the renewed certificate",
        e,
        () => this.#request(pending.state, pending.send, true),
      );
      return;
    }
    this.#writeWait = 0;
    this.#renewed = true;
    log.info(
      { serial: info.serialHex, notAfter: info.notAfter.toISOString() },
      "certificate renewed; the new one is used from the next connection",
    );
  }

  /** The session ended: forget its timers and any unanswered request. */
  end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#writeRetry);
    this.#writeRetry = undefined;
    this.#inflight = null;
  }

  /** Logs a write that failed and runs `again` later (see the module comment). */
  #writeFailed(what: string, e: unknown, again: () => Promise<void>): void {
    this.#writeWait = Math.min(
      this.#writeWait ? this.#writeWait * 2 : WRITE_RETRY_FIRST_MS,
      RETRY_MS,
    );
    this.#o.log.error(
      { err: osMessage(e), retryInS: this.#writeWait / 1000 },
      `${what} cannot be saved in the state directory (is its disk full?); asking again later`,
    );
    clearTimeout(this.#writeRetry);
    this.#writeRetry = setTimeout(() => {
      this.#writeRetry = undefined;
      again().catch((err) =>
        this.#o.log.error({ err: (err as Error).message }, "certificate renewal failed")
      );
    }, this.#writeWait);
  }

  #plan(state: AgentState, renewNow: boolean, send: (m: AgentMessage) => void): void {
    if (this.#renewed) return;
    const info = certFacts(state.certPem);
    const due = renewalDue(info.notBefore.getTime(), info.notAfter.getTime());
    const wait = due - this.#o.clock.now();
    if (renewNow || wait <= 0) {
      this.#request(state, send).catch((e) =>
        this.#o.log.error({ err: (e as Error).message }, "certificate renewal failed")
      );
      return;
    }
    this.#o.log.debug({ renewAt: new Date(due).toISOString() }, "certificate renewal planned");
    this.#timer = setTimeout(() => this.#plan(state, false, send), Math.min(wait, MAX_WAIT_MS));
  }

  async #request(
    state: AgentState,
    send: (m: AgentMessage) => void,
    evenIfRenewed = false,
  ): Promise<void> {
    if (this.#inflight || (this.#renewed && !evenIfRenewed)) return;
    this.#inflight = { keyPem: "", state, send };
    const { createCsr, generateKeyPem } = await pki();
    const keyPem = await generateKeyPem();
    const csr = await createCsr({ keyPem, commonName: state.agentId });
    this.#inflight = { keyPem, state, send };
    this.#o.log.info(
      { notAfter: certFacts(state.certPem).notAfter.toISOString() },
      "renewing the certificate",
    );
    send({ renewRequest: { csr } });
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#inflight) this.#o.log.warn("no answer to the certificate renewal; retrying later");
      this.#inflight = null;
      this.#timer = setTimeout(() => this.#plan(state, true, send), RETRY_MS);
    }, ANSWER_MS);
  }
}
