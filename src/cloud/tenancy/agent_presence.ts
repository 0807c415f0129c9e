/**
 * The live presence of a list of agents, read one query per site (the store keeps presence by
 * site) instead of one per agent, for the agents lists of the console and the API.
 * @module
 */
import type { Agent, Presence, Store } from "../store/store.ts";

/**
 * Each agent's unexpired presence by agent id (absent: offline). `between` is awaited before
 * each site's read (a background pass gives the event loop turns there: `timeSlicer`).
 */
export async function presenceOf(
  store: Store,
  agents: Agent[],
  between?: () => Promise<void>,
): Promise<Map<string, Presence>> {
  const out = new Map<string, Presence>();
  for (const site of new Set(agents.map((a) => a.siteId))) {
    await between?.();
    for (const pr of await store.listPresence(site)) out.set(pr.agentId, pr);
  }
  return out;
}
