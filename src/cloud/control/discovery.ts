/**
 * ONVIF discovery requests the cloud sends down an agent's control stream: each gets an id and
 * waits for the agent's DiscoveryResult (the agent probes its LAN for the window, then answers),
 * with a deadline a few seconds past the window. An agent that disconnects fails its requests
 * at once with "agent reconnecting".
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { DiscoveryResult } from "../../shared/protocol/control.ts";
import type { AgentSession } from "./registry.ts";

/** Slack on top of the probe window for the round trip. */
const GRACE_MS = 5_000;

/** Pending discovery requests on this node. */
export class DiscoveryRequests {
  #pending = new Map<
    string,
    { agentId: string; resolve: (r: DiscoveryResult) => void; reject: (e: Error) => void }
  >();

  /** Asks the agent of `session` to probe for `windowMs`; resolves with its answer. */
  request(session: AgentSession, windowMs: number): Promise<DiscoveryResult> {
    const requestId = crypto.randomUUID();
    return new Promise<DiscoveryResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new AppError("discovery_timeout"));
      }, windowMs + GRACE_MS);
      this.#pending.set(requestId, {
        agentId: session.agentId,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      session.send({ discoveryRequest: { requestId, timeoutMs: windowMs } });
    });
  }

  /** Delivers an agent's answer (ignored unless that agent was asked). */
  result(agentId: string, r: DiscoveryResult): void {
    const p = this.#pending.get(r.requestId);
    if (!p || p.agentId !== agentId) return;
    this.#pending.delete(r.requestId);
    p.resolve(r);
  }

  /** Fails the agent's pending requests (its stream ended). */
  agentGone(agentId: string): void {
    for (const [id, p] of this.#pending) {
      if (p.agentId !== agentId) continue;
      this.#pending.delete(id);
      p.reject(new AppError("agent_offline"));
    }
  }
}
