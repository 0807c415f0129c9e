/**
 * The supervisor owns reconnects: it keeps one control session alive, waiting a jittered
 * exponential backoff (capped at 15 s) between attempts, and logs each change of state once —
 * not every failed attempt — so a journal stays readable during a long outage.
 *
 * Each attempt re-reads the agent's key, certificate and CA from the state directory (rotation
 * is replace-the-files-and-reconnect), then picks the session's route: the configured proxy, or
 * the winner of a Happy Eyeballs race over every address of the control host. An address whose
 * session failed is tried last on the next attempt, so reconnects fail over to the others.
 * @module
 */
import type { Logger } from "../shared/log.ts";
import type { Resolver } from "../shared/transport/happy_eyeballs.ts";
import type { ProxyConfig } from "../shared/transport/proxy.ts";
import { Backoff } from "./backoff.ts";
import { Allowlist } from "./allowlist.ts";
import { Stats } from "./stats.ts";
import { type SessionEnd, splitEndpoints, startSession } from "./session.ts";
import { DataPool } from "./data_pool.ts";
import { type AgentState, loadState } from "./state.ts";
import { chooseRoute, type CloudRoute, routeKey } from "./cloud_route.ts";
import type { ProbeTarget } from "./discovery/probe.ts";
import { CertRenewer } from "./renewal.ts";
import { certFacts } from "../shared/crypto/cert_reader.ts";
import { type Clock, systemClock } from "../shared/clock.ts";
import { clockHint } from "./clock_skew.ts";
import { controlFailureWords } from "./control_failure.ts";
import { ReachabilityMonitor } from "./reachability.ts";
import { dialDevice } from "./dialer.ts";

/** The agent's connection state. */
export type ConnState = "connecting" | "connected" | "disconnected";

/** A running supervisor. */
export interface Supervisor {
  stats: Stats;
  allowlist: Allowlist;
  /** Current connection state. */
  readonly state: ConnState;
  /** Why the last attempt or session ended ("" while connected). */
  readonly lastReason: string;
  /** The route of the current (or last) session. */
  readonly route: CloudRoute | null;
  /** Epoch ms of the current session's Welcome, or null. */
  readonly connectedSince: number | null;
  /** Why the last data dial failed for good, until a data connection comes up ("" then). */
  readonly dataBlocked: string;
  /** Stops and resolves when the current session has ended. */
  stop(): Promise<void>;
}

/** What the supervisor needs. */
export interface SuperviseOptions {
  /** The enrolled state; re-read from `stateDir` before every attempt when that is given. */
  state: AgentState;
  stateDir?: string;
  log: Logger;
  backoff?: Backoff;
  stats?: Stats;
  /** The outbound proxy for the cloud, when enabled. */
  proxy?: ProxyConfig | null;
  /** Resolver of the control host (tests inject one). */
  resolver?: Resolver;
  /** Delay between Happy Eyeballs attempts (default 250 ms). */
  staggerMs?: number;
  discoveryTargets?: ProbeTarget[];
  /** Control endpoints overriding the enrolled one (comma-separated; every node of the cloud). */
  controlEndpoint?: string;
  /** Told when the control stream comes up (with the cloud node) or goes down (with why). */
  onLink?: (up: boolean, detail: string) => void;
  /** Told when a data connection comes up (true) or a data dial failed for good (false, why). */
  onDataLink?: (ok: boolean, reason: string) => void;
  /** The agent's clock (certificate renewal and expiry); the wall clock by default. */
  clock?: Clock;
  /** Time between two rounds of device reachability checks (default 60 s; 0: off). */
  reachabilityIntervalMs?: number;
}

/** The line an agent whose certificate expired logs (once), as the cloud words it. */
export const CERT_EXPIRED = "certificate expired: re-enroll";

/**
 * A failure's reason without its numbers, to log a failure once rather than at every attempt
 * (rustls counts the seconds in "not valid before … (172499 seconds in future)").
 */
function sameFailure(reason: string): string {
  return reason.replace(/\d+/g, "#");
}

/** True when a session end or the agent's own certificate says the certificate has expired. */
function certificateExpired(end: SessionEnd, certPem: string, now: number): boolean {
  if (end.reason.includes(CERT_EXPIRED)) return true;
  try {
    return certFacts(certPem).notAfter.getTime() <= now;
  } catch {
    return false;
  }
}

/** Starts the supervisor loop. */
export function supervise(o: SuperviseOptions): Supervisor {
  const stats = o.stats ?? new Stats();
  const allowlist = new Allowlist();
  let dataBlocked = "";
  const dataPool = new DataPool({ allowlist, stats, log: o.log }, (ok, reason) => {
    dataBlocked = ok ? "" : reason;
    o.onDataLink?.(ok, reason);
  });
  const reachability = o.reachabilityIntervalMs === 0 ? undefined : new ReachabilityMonitor({
    allowlist,
    intervalMs: o.reachabilityIntervalMs,
    probe: async (host, port, timeoutMs) => (await dialDevice(host, port, timeoutMs)).close(),
  });
  reachability?.start();
  const backoff = o.backoff ?? new Backoff();
  let state: ConnState = "connecting";
  let stopping = false;
  let current: { close(): void; done: Promise<SessionEnd> } | null = null;
  let lastReason = "";
  /** The last failure logged, numbers left out (see sameFailure). */
  let lastFailure = "";
  let route: CloudRoute | null = null;
  let connectedSince: number | null = null;
  let agentState = o.state;
  const demoted = new Set<string>();
  let wake: (() => void) | null = null;
  const clock = o.clock ?? systemClock;
  const renewer = o.stateDir
    ? new CertRenewer({ stateDir: o.stateDir, log: o.log, clock })
    : undefined;
  let expiredLogged = false;
  /** Set after the renewed pair failed to connect: the next attempt uses the proven pair. */
  let useProven = false;

  /** One attempt: fresh credentials, a route, a session; resolves with how it ended. */
  const attempt = async (): Promise<SessionEnd> => {
    if (o.stateDir) {
      try {
        agentState = (await loadState(o.stateDir, { proven: useProven })) ?? agentState;
      } catch (e) {
        o.log.warn({ err: (e as Error).message }, "cannot re-read the agent state; using the last");
      }
    }
    const endpointList = o.controlEndpoint ?? agentState.controlEndpoint;
    try {
      route = await chooseRoute({
        endpoints: splitEndpoints(endpointList),
        caPem: agentState.caPem,
        proxy: o.proxy ?? null,
        resolver: o.resolver,
        demoted,
        staggerMs: o.staggerMs,
      });
    } catch (e) {
      return {
        welcomed: false,
        code: 14,
        reason: `cannot reach ${endpointList}: ${(e as Error).message}`,
      };
    }
    if (stopping) return { welcomed: false, code: 1, reason: "agent stopping" };
    const chosen = route;
    o.log.debug(
      { address: chosen.address?.address ?? null, proxy: chosen.proxy?.display ?? null },
      "route chosen",
    );
    current = startSession({
      state: agentState,
      allowlist,
      stats,
      log: o.log,
      dataPool,
      route: chosen,
      discoveryTargets: o.discoveryTargets,
      renewer,
      reachability,
      onWelcome: (node) => {
        expiredLogged = false;
        state = "connected";
        lastReason = "";
        lastFailure = "";
        connectedSince = Date.now();
        backoff.reset();
        if (chosen.address) demoted.delete(routeKey({ ...chosen.address, port: chosen.port }));
        o.log.info(
          {
            node,
            endpoint: `${chosen.host}:${chosen.port}`,
            address: chosen.address?.address ?? null,
            proxy: chosen.proxy?.display ?? null,
          },
          "control stream up",
        );
        o.onLink?.(true, node);
      },
    });
    const end = await current.done;
    current = null;
    // A renewed pair that could not connect alternates with the proven one until one works.
    useProven = !end.welcomed && agentState.pairSource === "next";
    if (chosen.address && end.code !== 0 && end.code !== 1) {
      demoted.add(routeKey({ ...chosen.address, port: chosen.port }));
    }
    return end;
  };

  const loop = async () => {
    o.log.info(
      { endpoint: o.controlEndpoint ?? o.state.controlEndpoint, agent: o.state.agentId },
      "control stream connecting",
    );
    while (!stopping) {
      const end = await attempt();
      connectedSince = null;
      if (stopping) break;
      const reason = `${end.reason} (code ${end.code})`;
      const expired = !end.welcomed &&
        certificateExpired(end, agentState.certPem, clock.now());
      // What this machine can do about a connection that failed (not the cloud's own answers).
      const words = expired || state === "connected" || end.code === 7
        ? null
        : controlFailureWords(end.reason, o.controlEndpoint ?? agentState.controlEndpoint);
      if (expired) {
        if (!expiredLogged) {
          expiredLogged = true;
          o.log.error(
            {
              reason,
              command:
                `connector agent enroll --cloud ${agentState.cloudUrl} --token-file <file with a fresh enrollment token from the site page> --force` +
                (o.stateDir ? ` --state ${o.stateDir}` : ""),
            },
            `${CERT_EXPIRED}: this agent was offline past its certificate's expiry; enroll it again with a fresh token (command above)`,
          );
        }
      } else if (state === "connected") {
        o.log.warn({ reason }, "control stream lost; reconnecting");
      } else if (sameFailure(reason) !== lastFailure) {
        const refused = end.code === 7;
        const clock = clockHint(reason, Date.now());
        o.log[refused || clock ? "error" : "warn"](
          { reason },
          refused
            ? "control stream refused by the cloud; re-enroll with a fresh installer if this agent was revoked"
            : clock ?? `control stream cannot connect${words ? `: ${words}` : ""}; retrying`,
        );
      }
      lastReason = reason;
      lastFailure = sameFailure(reason);
      state = "disconnected";
      o.onLink?.(false, words ?? end.reason);
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
    get lastReason() {
      return lastReason;
    },
    get route() {
      return route;
    },
    get connectedSince() {
      return connectedSince;
    },
    get dataBlocked() {
      return dataBlocked;
    },
    async stop() {
      stopping = true;
      (current as { close(): void } | null)?.close();
      (wake as (() => void) | null)?.();
      await running;
      await reachability?.stop();
      dataPool.close();
    },
  };
}
