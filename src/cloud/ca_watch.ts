/**
 * A running cloud follows the CA rotations that `connector cloud admin ca rotate` drives from
 * another process: it watches each rotation record in the data directory (once a second) and,
 * when one changes, applies the phase. For the agent CA: trust the new bundle on the control
 * listener, sign with the phase's CAs, re-issue the server certificate when the primary CA
 * changed, and send every connected agent its new certificate policy (CAs to trust, renew now or
 * not). For the internal CA: trust its bundle for node-to-node calls and re-issue this node's
 * certificate when the CA that signs node certificates changed (the new one from update-clients
 * on, the old one again after a rollback).
 * @module
 */
import type { Logger } from "../shared/log.ts";
import { type CaKind, loadCas, rotationStatePath } from "./ca_rotation.ts";
import { type CloudPki, useAgentCas } from "./pki.ts";

/** What following a rotation touches. */
export interface CaWatchDeps {
  dataDir: string;
  pki: CloudPki;
  /** Trusts a new agent CA bundle on the control listener. */
  trust: (caPem: string) => void;
  /** Re-issues the server and node certificates if their CA is no longer the primary one. */
  renewServer: () => Promise<unknown>;
  /** Sends connected agents their certificate policy. */
  pushPolicy: () => Promise<void>;
  log: Logger;
}

/** Applies the rotation phase of `kind` on disk to the running cloud now. */
export async function applyCas(d: CaWatchDeps, kind: CaKind): Promise<void> {
  const cas = await loadCas(d.dataDir, kind);
  if (kind === "agent") {
    useAgentCas(d.pki, cas);
    d.trust(cas.trustPem);
  } else {
    // Nodes are the internal CA's clients: from update-clients on they hold new-CA certificates
    // (every node trusts both CAs from init until standby).
    d.pki.internalCa = { certPem: cas.renewals.certPem, keyPem: cas.renewals.keyPem };
    d.pki.internalTrustPem = cas.trustPem;
  }
  await d.renewServer();
  if (kind === "agent") await d.pushPolicy();
  d.log.info(
    { ca: kind, phase: cas.phase, primary: cas.primary.pin, renewals: cas.renewals.pin },
    `${kind} CA rotation phase applied`,
  );
}

/** Checks the rotation records every `intervalMs` (default 1 s); returns the stop function. */
export function watchCas(d: CaWatchDeps, intervalMs = 1000): () => void {
  const seen = new Map<CaKind, string>();
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      for (const kind of ["agent", "internal"] as const) {
        const text = await Deno.readTextFile(rotationStatePath(d.dataDir, kind)).catch(() => "");
        const before = seen.get(kind);
        seen.set(kind, text);
        if (before !== undefined && before !== text) await applyCas(d, kind);
      }
    } catch (e) {
      d.log.error({ err: (e as Error).message }, "cannot apply a CA rotation");
    } finally {
      busy = false;
    }
  };
  check();
  const timer = setInterval(check, intervalMs);
  return () => clearInterval(timer);
}
