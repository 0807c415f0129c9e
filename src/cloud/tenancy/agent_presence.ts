/**
 * The live presence of a list of agents (a page of the console's or the API's agents list, a
 * page of the presence job's pass) read in one store query by id, instead of one per agent or
 * one per site.
 * @module
 */
import type { Agent, Presence, Store } from "../store/store.ts";

/** Each agent's unexpired presence by agent id (absent: offline). */
export async function presenceOf(store: Store, agents: Agent[]): Promise<Map<string, Presence>> {
  if (!agents.length) return new Map();
  const list = await store.getPresenceOf(agents.map((a) => a.id));
  return new Map(list.map((p) => [p.agentId, p]));
}
