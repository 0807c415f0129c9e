/**
 * The registry of agents connected to THIS cloud node: who holds a control stream here, how to
 * send it a message, how loaded it is. Cross-node routing reads presence from the store instead.
 * @module
 */
import type { CloudMessage } from "../../shared/protocol/control.ts";

/** One agent's live control stream on this node. */
export interface AgentSession {
  agentId: string;
  tenantId: string;
  siteId: string;
  connectedAt: number;
  /** Tunnels the agent reported active in its last heartbeat (plus opens since). */
  activeStreams: number;
  bytesUp: number;
  bytesDown: number;
  /** Tunnels opened today (UTC), as of the last heartbeat. */
  tunnelsOpened: number;
  /** The newest allowlist version sent to (or reported by) the agent. */
  allowlistVersion: number;
  version: string;
  /** The control protocol the agent speaks (its Hello). */
  protocol: number;
  hostname: string;
  os: string;
  /**
   * Why the agent's data connections cannot be opened, as its last failed dial on this stream
   * said ("" or absent while they can); see events/data_channel.ts.
   */
  dataBlocked?: string;
  /** Sends a message on the control stream. */
  send(msg: CloudMessage): void;
  /** Ends the stream with a gRPC status code and a reason. */
  close(code: number, reason: string): void;
}

/** Sessions by agent id, with a per-site index. */
export class Registry {
  #byAgent = new Map<string, AgentSession>();
  #bySite = new Map<string, Set<AgentSession>>();

  /** Adds a session, returning the previous session of the same agent (the caller ends it). */
  add(s: AgentSession): AgentSession | undefined {
    const prev = this.#byAgent.get(s.agentId);
    if (prev) this.remove(prev);
    this.#byAgent.set(s.agentId, s);
    let set = this.#bySite.get(s.siteId);
    if (!set) this.#bySite.set(s.siteId, set = new Set());
    set.add(s);
    return prev;
  }

  /** Removes the session if it is still the current one of its agent. */
  remove(s: AgentSession): boolean {
    if (this.#byAgent.get(s.agentId) !== s) return false;
    this.#byAgent.delete(s.agentId);
    const set = this.#bySite.get(s.siteId);
    set?.delete(s);
    if (set?.size === 0) this.#bySite.delete(s.siteId);
    return true;
  }

  /** The session of an agent connected here, if any. */
  get(agentId: string): AgentSession | undefined {
    return this.#byAgent.get(agentId);
  }

  /** Sessions of a site connected here. */
  bySite(siteId: string): AgentSession[] {
    return [...(this.#bySite.get(siteId) ?? [])];
  }

  /** Site ids with at least one agent connected here. */
  sites(): string[] {
    return [...this.#bySite.keys()];
  }

  /** Every session. */
  all(): AgentSession[] {
    return [...this.#byAgent.values()];
  }
}
