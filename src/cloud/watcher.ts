/**
 * Notices changes made outside this process (the admin CLI, another cloud node) and applies
 * them to the agents connected here: pushes newer allowlists and cuts off revoked agents.
 * Writers bump the store counter `changes`; this loop compares it every second, so an idle
 * cloud reads one counter per second. It also reconciles once a minute even when the counter
 * did not move: a writer that crashed between its write and its bump (two separate writes)
 * must not leave a revoked agent or credential live on the other nodes for good.
 * @module
 */
import type { Logger } from "../shared/log.ts";
import type { Store } from "./store/store.ts";
import type { Registry } from "./control/registry.ts";
import type { ControlServer } from "./control/server.ts";
import type { LiveAccess } from "./access/live.ts";
import { isStoreOutage } from "./store/outage.ts";
import { timeSlicer } from "../shared/time_slice.ts";

/** The name of the store counter that writers bump after a change agents must see. */
export const CHANGES_COUNTER = "changes";

/** Tells running cloud nodes that something changed. */
export async function announceChange(store: Store): Promise<void> {
  await store.incrementCounter(CHANGES_COUNTER, 1);
}

/** Sites and agents per store read of a reconciliation. */
export const RECONCILE_PAGE = 500;

/**
 * Applies current store state to every agent connected here: a site's allowlist is read and
 * pushed only when its version moved past what one of its agents has, and an agent revoked (or
 * gone) is cut off. It runs on every change anywhere in the cluster and every minute, over
 * every agent of a busy node, so it reads versions and agents a page at a time (one query each)
 * with turns of the event loop between — never a whole allowlist per site, nor a read per
 * agent, on a tick where nothing changed for them.
 */
export async function reconcile(
  store: Store,
  registry: Registry,
  control: ControlServer,
): Promise<void> {
  const slice = timeSlicer();
  const sites = registry.sites();
  for (let i = 0; i < sites.length; i += RECONCILE_PAGE) {
    await slice();
    const page = sites.slice(i, i + RECONCILE_PAGE);
    const versions = await store.getAllowlistVersions(page);
    for (const siteId of page) {
      const v = versions[siteId];
      if (v === undefined || !registry.bySite(siteId).some((s) => s.allowlistVersion < v)) continue;
      await slice();
      await control.pushAllowlist(siteId);
    }
  }
  const sessions = registry.all();
  for (let i = 0; i < sessions.length; i += RECONCILE_PAGE) {
    await slice();
    const page = sessions.slice(i, i + RECONCILE_PAGE);
    const agents = await store.getAgentsById(page.map((s) => s.agentId));
    const live = new Set(agents.filter((a) => a.revokedAt === null).map((a) => a.id));
    for (const s of page) if (!live.has(s.agentId)) control.kick(s.agentId, "agent revoked");
  }
}

/** Starts the watch loop; returns a stop function. */
export function watchChanges(
  opts: {
    store: Store;
    registry: Registry;
    control: ControlServer;
    log: Logger;
    everyMs?: number;
    /** Operators' live connections, re-checked against revocations on every change. */
    live?: LiveAccess;
    now?: () => number;
    /** Reconcile at least this often even without a change signal (default 60 s). */
    fullEveryMs?: number;
  },
): () => void {
  let last = -1;
  let lastFull = 0;
  let busy = false;
  let outage = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const now = await opts.store.incrementCounter(CHANGES_COUNTER, 0);
      const at = (opts.now ?? Date.now)();
      const due = at - lastFull >= (opts.fullEveryMs ?? 60_000);
      if (now !== last || due) {
        lastFull = at;
        // The first tick reconciles too: a change can land between start and the first read.
        await reconcile(opts.store, opts.registry, opts.control);
        await opts.live?.revalidate(opts.store, at, opts.log);
        last = now;
      }
      if (outage) opts.log.info({}, "store reachable again; change watch resumed");
      outage = false;
    } catch (e) {
      // During a store outage: one warning, not one per second. Open tunnels keep flowing (their
      // revocation re-check resumes with the store); new admissions are refused meanwhile.
      if (!isStoreOutage(e)) opts.log.warn({ err: (e as Error).message }, "change watch failed");
      else if (!outage) {
        outage = true;
        opts.log.warn(
          { err: (e as Error).message },
          "store unreachable: open tunnels keep flowing, new admissions are refused until it returns",
        );
      }
    } finally {
      busy = false;
    }
  }, opts.everyMs ?? 1_000);
  return () => clearInterval(timer);
}
