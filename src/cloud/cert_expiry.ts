/**
 * Where agent certificates stand, for people and for monitoring: the soonest expiry across all
 * agents and the CAs' expiries (ready for the `/metrics` gauges `connector_agent_cert_expiry_seconds`
 * and the CAs'), and a console warning, repeated every hour while it holds, naming each agent
 * whose certificate expires within 7 days — an agent that has not renewed by then is offline or
 * failing, and someone should look before it goes dark.
 * @module
 */
import { certInfo } from "../shared/crypto/pki.ts";
import type { Clock } from "../shared/clock.ts";
import type { Logger } from "../shared/log.ts";
import type { Store } from "./store/store.ts";
import { logStoreFailure } from "./store/outage.ts";
import { agentCertExpiry, caExpiry } from "./cloud_metrics.ts";

/** How far ahead an expiring agent certificate is warned about. */
export const CERT_WARN_MS = 7 * 86_400_000;
const CHECK_MS = 3_600_000;

/** The soonest expiry (epoch ms) among non-revoked agents' certificates, or null when none known. */
export async function minAgentCertExpiry(store: Store): Promise<number | null> {
  const [first] = await store.listAgentsByCertExpiry(Infinity, 1);
  return first?.certNotAfter ?? null;
}

/** Expiry (epoch ms) of each CA, by name. */
export function caExpiries(
  cas: { agentCa: { certPem: string }; internalCa: { certPem: string } },
): { agent: number; internal: number } {
  return {
    agent: certInfo(cas.agentCa.certPem).notAfter.getTime(),
    internal: certInfo(cas.internalCa.certPem).notAfter.getTime(),
  };
}

/** Logs a warning for each agent certificate expiring within 7 days (now, then hourly). */
export async function warnExpiringAgentCerts(
  d: { store: Store; clock: Clock; log: Logger },
): Promise<number> {
  const now = d.clock.now();
  const soon = await d.store.listAgentsByCertExpiry(now + CERT_WARN_MS, 1000);
  for (const a of soon) {
    d.log.warn(
      {
        agent: a.id,
        tenant: a.tenantId,
        site: a.siteId,
        hostname: a.hostname,
        expiresAt: new Date(a.certNotAfter!).toISOString(),
      },
      a.certNotAfter! <= now
        ? "agent certificate has expired: the agent must be enrolled again"
        : "agent certificate expires within 7 days and has not been renewed: is the agent offline?",
    );
  }
  return soon.length;
}

/** How often the soonest agent expiry behind the `/metrics` gauge is re-read. */
const GAUGE_REFRESH_MS = 10_000;

let soonestAgentExpiry: number | null = null;
let currentCas: (() => { agentCa: { certPem: string }; internalCa: { certPem: string } }) | null =
  null;

agentCertExpiry.collect(() =>
  soonestAgentExpiry === null ? [] : [{
    labels: {},
    value: Math.round((soonestAgentExpiry - Date.now()) / 1000),
  }]
);
caExpiry.collect(() => {
  if (!currentCas) return [];
  const e = caExpiries(currentCas());
  return [
    { labels: { ca: "agent" }, value: Math.round((e.agent - Date.now()) / 1000) },
    { labels: { ca: "internal" }, value: Math.round((e.internal - Date.now()) / 1000) },
  ];
});

/**
 * Runs {@linkcode warnExpiringAgentCerts} at start and every hour, and keeps the `/metrics`
 * gauges `connector_agent_cert_expiry_seconds` (soonest non-revoked agent, re-read every 10 s)
 * and `connector_ca_expiry_seconds{ca}` (the CAs in use, read at each scrape) current; returns
 * the stop function.
 */
export function watchAgentCertExpiry(d: {
  store: Store;
  clock: Clock;
  log: Logger;
  /** The CAs in use now (they change during a rotation). */
  cas?: () => { agentCa: { certPem: string }; internalCa: { certPem: string } };
}): () => void {
  if (d.cas) currentCas = d.cas;
  const check = () =>
    warnExpiringAgentCerts(d).catch((e) =>
      logStoreFailure(d.log, e, "agent certificate expiry check failed")
    );
  const refresh = () =>
    minAgentCertExpiry(d.store).then((t) => (soonestAgentExpiry = t)).catch(() => {});
  check();
  refresh();
  const timer = setInterval(check, CHECK_MS);
  const gauge = setInterval(refresh, GAUGE_REFRESH_MS);
  return () => {
    clearInterval(timer);
    clearInterval(gauge);
  };
}
