/**
 * The supervisor owns reconnects: it keeps one control session alive, waiting a jittered
 * exponential backoff (capped at 15 s) between attempts, and logs each change of state once —
 * not every failed attempt — so a journal stays readable during a long outage.
 * @module
 */
import type { Logger } from "../shared/log.ts";
import { Backoff } from "./backoff.ts";
import { Allowlist } from "./allowlist.ts";
import { Stats } from "./stats.ts";
import { type SessionEnd, startSession } from "./session.ts";
import type { AgentState } from "./state.ts";

/** The agent's connection state. */
export type ConnState = "connecting" | "connected" | "disconnected";

/** A running supervisor. */
export interface Supervisor {
  stats: Stats;
  allowlist: Allowlist;
  /** Current connection state. */
  readonly state: ConnState;
  /** Stops and resolves when the current session has ended. */
  stop(): Promise<void>;
}

/** Starts the supervisor loop. */
export function supervise(o: { state: AgentState; log: Logger; backoff?: Backoff }): Supervisor {
  const stats = new Stats();
  const allowlist = new Allowlist();
  const backoff = o.backoff ?? new Backoff();
  let state: ConnState = "connecting";
  let stopping = false;
  let current: { close(): void; done: Promise<SessionEnd> } | null = null;
  let lastReason = "";
  let wake: (() => void) | null = null;

  const loop = async () => {
    o.log.info(
      { endpoint: o.state.controlEndpoint, agent: o.state.agentId },
      "control stream connecting",
    );
    while (!stopping) {
      current = startSession({
        state: o.state,
        allowlist,
        stats,
        log: o.log,
        onWelcome: (node) => {
          state = "connected";
          lastReason = "";
          backoff.reset();
          o.log.info({ node, endpoint: o.state.controlEndpoint }, "control stream up");
        },
      });
      const end = await current.done;
      current = null;
      if (stopping) break;
      const reason = `${end.reason} (code ${end.code})`;
      if (state === "connected") {
        o.log.warn({ reason }, "control stream lost; reconnecting");
      } else if (reason !== lastReason) {
        const refused = end.code === 7;
        o.log[refused ? "error" : "warn"](
          { reason },
          refused
            ? "control stream refused by the cloud; re-enroll with a fresh installer if this agent was revoked"
            : "control stream cannot connect; retrying",
        );
      }
      lastReason = reason;
      state = "disconnected";
      const delay = backoff.next();
      o.log.debug({ delayMs: delay }, "waiting before reconnect");
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = null;
    }
  };
  const running = loop();
  return {
    stats,
    allowlist,
    get state() {
      return state;
    },
    async stop() {
      stopping = true;
      current?.close();
      (wake as (() => void) | null)?.();
      await running;
    },
  };
}
