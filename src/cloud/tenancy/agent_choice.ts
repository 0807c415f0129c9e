/**
 * Which agent serves a tunnel (guide §4, sticky with failover): the handle's pinned agent when
 * it is online; otherwise the least-loaded online agent of the site (fewest active streams, then
 * agent id). The choice is a pure function so it is tested without agents.
 * @module
 */

/** An online agent and its load. */
export interface Candidate {
  agentId: string;
  activeStreams: number;
}

/** Picks the agent for a tunnel, or null when none of the site's agents is online. */
export function chooseAgent(pinned: string | null, online: Candidate[]): string | null {
  if (pinned && online.some((c) => c.agentId === pinned)) return pinned;
  let best: Candidate | null = null;
  for (const c of online) {
    if (
      !best || c.activeStreams < best.activeStreams ||
      (c.activeStreams === best.activeStreams && c.agentId < best.agentId)
    ) best = c;
  }
  return best?.agentId ?? null;
}
