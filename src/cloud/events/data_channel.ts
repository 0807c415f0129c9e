/**
 * The `agent.data_blocked` event: an agent whose control stream is up but whose data connections
 * cannot be opened (a site firewall lets the control port out and not the data port, a wrong
 * `--data-public-port`) shows as online while no tunnel can reach its site. The agent says so
 * after each dial that failed for good (DataDialFailed); the tenant hears of it once per spell —
 * a spell ends when one of that agent's data connections comes up on this node, and a new control
 * stream (the agent restarted or came back) starts a new one. Only the node
 * holding the agent's control stream hears its failures, so it alone produces the event.
 * @module
 */
import type { Store } from "../store/store.ts";
import type { EventProducer } from "./producer.ts";

/** What the watch needs to name the agent and record the event. */
export interface DataChannelDeps {
  store: Pick<Store, "getAgent">;
  events: Pick<EventProducer, "emitQuietly">;
  clock: { now(): number };
}

/** Who failed: the agent's session on this node (its `dataBlocked` is the spell's state). */
export interface DataChannelAgent {
  agentId: string;
  tenantId: string;
  siteId: string;
  hostname: string;
  dataBlocked?: string;
}

/** Raises `agent.data_blocked` once per spell of failed data dials, per agent session. */
export class DataChannelWatch {
  #d: DataChannelDeps;

  /** A watch recording through `d`. */
  constructor(d: DataChannelDeps) {
    this.#d = d;
  }

  /**
   * An agent's data dial failed for good (`reason` as it said): the session keeps the reason,
   * and the first failure of a spell is an event.
   */
  async failed(a: DataChannelAgent, reason: string): Promise<void> {
    const first = !a.dataBlocked;
    a.dataBlocked = reason;
    if (!first) return;
    const since = this.#d.clock.now();
    const agent = await this.#d.store.getAgent(a.agentId).catch(() => null);
    await this.#d.events.emitQuietly({
      tenantId: a.tenantId,
      type: "agent.data_blocked",
      subject: {
        name: agent?.label || agent?.hostname || a.hostname || a.agentId,
        agentId: a.agentId,
        siteId: a.siteId,
      },
      actor: `agent:${a.agentId}`,
      detail: { error: reason },
      key: `agent.data_blocked:${a.agentId}:${since}`,
    });
  }

  /** One of the agent's data connections came up: its spell (if any) is over. */
  opened(a: DataChannelAgent | undefined): void {
    if (a) a.dataBlocked = "";
  }
}
