/**
 * A running cloud follows the agent CA rotation that `connector cloud admin ca rotate` drives
 * from another process: it watches the rotation record in the data directory (once a second)
 * and, when it changes, loads the phase's CAs, trusts the new bundle on the control listener,
 * signs with the phase's CAs, re-issues the server certificate when the primary CA changed, and
 * sends every connected agent its new certificate policy (CAs to trust, renew now or not).
 * @module
 */
import type { Logger } from "../shared/log.ts";
import { loadAgentCas, rotationStatePath } from "./ca_rotation.ts";
import { type CloudPki, useAgentCas } from "./pki.ts";

/** What following a rotation touches. */
export interface AgentCaWatchDeps {
  dataDir: string;
  pki: CloudPki;
  /** Trusts a new CA bundle on the control listener. */
  trust: (caPem: string) => void;
  /** Re-issues the server certificate if its CA is no longer the primary one. */
  renewServer: () => Promise<unknown>;
  /** Sends connected agents their certificate policy. */
  pushPolicy: () => Promise<void>;
  log: Logger;
}

/** Applies the rotation phase on disk to the running cloud now. */
export async function applyAgentCas(d: AgentCaWatchDeps): Promise<void> {
  const cas = await loadAgentCas(d.dataDir);
  useAgentCas(d.pki, cas);
  d.trust(cas.trustPem);
  await d.renewServer();
  await d.pushPolicy();
  d.log.info(
    { phase: cas.phase, primary: cas.primary.pin, renewals: cas.renewals.pin },
    "agent CA rotation phase applied",
  );
}

/** Checks the rotation record every `intervalMs` (default 1 s); returns the stop function. */
export function watchAgentCas(d: AgentCaWatchDeps, intervalMs = 1000): () => void {
  const path = rotationStatePath(d.dataDir);
  let seen: string | null = null;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const text = await Deno.readTextFile(path).catch(() => "");
      if (seen === null) seen = text;
      else if (text !== seen) {
        seen = text;
        await applyAgentCas(d);
      }
    } catch (e) {
      d.log.error({ err: (e as Error).message }, "cannot apply the agent CA rotation");
    } finally {
      busy = false;
    }
  };
  check();
  const timer = setInterval(check, intervalMs);
  return () => clearInterval(timer);
}
