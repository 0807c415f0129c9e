/**
 * Agents per node, measured (issue 12): one cloud node (its embedded SQLite store), simulated
 * agents (bench/agent_sim.ts: real enrollment, real mTLS gRPC control streams, Hello and
 * heartbeats, one idle data connection each) added in steps until the node's RSS — the cloud process and its control relay
 * child — reaches the limit (2 GiB) or N reaches the cap (10 000), or agents stop being
 * admitted. After each step: RSS per agent and the heartbeat lag (send → the cloud's presence
 * write) p50/p99 over every agent's latest heartbeat.
 * @module
 */
import { Stack } from "../tests/_fixtures/stack.ts";
import { openStore } from "../src/cloud/store/open.ts";
import { processTree, rssKiB } from "./procfs.ts";
import { quantile } from "./failover.ts";
import { enrollMany, SimAgent, simKey } from "./agent_sim.ts";

/** One step's figures. */
export interface AgentsStep {
  agents: number;
  /** RSS of the node (cloud + control relay), MiB. */
  nodeRssMiB: number;
  /** (node RSS − RSS before any agent) ÷ agents, KiB. */
  rssPerAgentKiB: number;
  heartbeatLagP50Ms: number;
  heartbeatLagP99Ms: number;
  /** RSS of the simulator process itself, MiB. */
  simRssMiB: number;
  /** Streams that ended since they were welcomed (the cloud or the network cut them). */
  dropped: number;
  /** Data connections the simulated agents could not dial (each holds one, as real agents do). */
  dataFailures: number;
  /** The simulator's own worst event-loop delay during the step, ms (its side of keepalives). */
  simLoopLagMs: number;
}

/** The whole run. */
export interface AgentsPerNode {
  steps: AgentsStep[];
  /** Why the ramp stopped: "cap", "rss limit", the first refusal or the first dropped streams. */
  stoppedBy: string;
}

/** Agents connecting at once during the ramp. */
const CONNECT_BURST = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ramps simulated agents on one node; see the module comment. */
export async function measureAgentsPerNode(o: {
  cap: number;
  step: number;
  rssLimitMiB: number;
  log?: (s: string) => void;
}): Promise<AgentsPerNode> {
  const log = o.log ?? (() => {});
  const stack = await Stack.start();
  const sims: SimAgent[] = [];
  const byId = new Map<string, SimAgent>();
  const steps: AgentsStep[] = [];
  let stoppedBy = "cap";
  let stopLag = () => {};
  const store = await openStore(`sqlite:${stack.dataDir}/connector.db`, stack.dataDir);
  try {
    const q = await stack.quickstart([9]);
    const key = await simKey();
    const nodeRss = () =>
      processTree(stack.cloud.child.pid).reduce((n, pid) => n + rssKiB(pid), 0) / 1024;
    await sleep(1000);
    const baseRss = nodeRss();
    const heartbeatMs = 5_000;
    // The simulator's event-loop delay: grpc keepalives (10 s timeouts on both ends) go unanswered
    // if it stalls, which would cut streams for reasons of its own.
    let loopLag = 0;
    let tick = performance.now();
    const lagTimer = setInterval(() => {
      const now = performance.now();
      loopLag = Math.max(loopLag, now - tick - 100);
      tick = now;
    }, 100);
    stopLag = () => clearInterval(lagTimer);
    while (sims.length < o.cap) {
      const n = Math.min(o.step, o.cap - sims.length);
      const ids = await enrollMany({
        url: stack.url,
        apiToken: q.apiToken,
        siteId: q.siteId,
        key,
        n,
      });
      // Connected CONNECT_BURST at a time (each burst welcomed before the next), so the figure is
      // the node's capacity, not how many TLS handshakes it takes in one instant.
      let refused: string | null = null;
      for (let i = 0; i < ids.length && !refused; i += CONNECT_BURST) {
        const burst = ids.slice(i, i + CONNECT_BURST).map((id) =>
          new SimAgent(id, key, "127.0.0.1", stack.ports.control)
        );
        sims.push(...burst);
        for (const b of burst) byId.set(b.agentId, b);
        const failed = (await Promise.allSettled(burst.map((s) => s.welcomed())))
          .filter((r) => r.status === "rejected") as PromiseRejectedResult[];
        if (failed.length) {
          refused = `${failed.length} refused at ${sims.length}: ${failed[0].reason}`;
        }
      }
      if (refused) {
        stoppedBy = refused;
        break;
      }
      // Two heartbeat intervals: every agent has sent (and the cloud written) a few.
      await sleep(2 * heartbeatMs + 500);
      const lags: number[] = [];
      for (const p of await store.listPresence(q.siteId)) {
        const sent = byId.get(p.agentId)?.sentAt.get(p.bytesUp);
        if (sent !== undefined) lags.push(Math.max(0, p.lastHeartbeat - sent));
      }
      const rss = nodeRss();
      const gone = sims.filter((s) => s.ended !== null);
      const step: AgentsStep = {
        agents: sims.length,
        nodeRssMiB: rss,
        rssPerAgentKiB: ((rss - baseRss) * 1024) / sims.length,
        heartbeatLagP50Ms: lags.length ? quantile(lags, 0.5) : NaN,
        heartbeatLagP99Ms: lags.length ? quantile(lags, 0.99) : NaN,
        simRssMiB: rssKiB(Deno.pid) / 1024,
        dropped: gone.length,
        dataFailures: sims.reduce((n, x) => n + x.dataFailures, 0),
        simLoopLagMs: loopLag,
      };
      loopLag = 0;
      steps.push(step);
      log(
        `  ${step.agents} agents: node RSS ${rss.toFixed(0)} MiB ` +
          `(${step.rssPerAgentKiB.toFixed(1)} KiB/agent), heartbeat lag p50 ` +
          `${step.heartbeatLagP50Ms.toFixed(0)} ms p99 ${step.heartbeatLagP99Ms.toFixed(0)} ms ` +
          `(${lags.length} samples), simulator ${step.simRssMiB.toFixed(0)} MiB, ` +
          `${gone.length} dropped, ${step.dataFailures} data dials failed, simulator loop lag max ` +
          `${step.simLoopLagMs.toFixed(0)} ms`,
      );
      const dataWhy = new Map<string, number>();
      for (const x of sims) {
        if (x.dataError) dataWhy.set(x.dataError, (dataWhy.get(x.dataError) ?? 0) + 1);
      }
      if (dataWhy.size) {
        log(`  data dials failed: ${[...dataWhy].map(([w, n]) => `${w} (${n})`).join(", ")}`);
        // What the node said about data connections (its warnings, counted by message).
        const said = new Map<string, number>();
        for (const l of stack.cloud.lines) {
          const m = /"level":(?:40|50).*"msg":"([^"]*)"/.exec(l);
          if (m && /data|ticket/.test(m[1])) said.set(m[1], (said.get(m[1]) ?? 0) + 1);
        }
        log(`  the node said: ${[...said].map(([w, n]) => `${w} (${n})`).join(", ") || "nothing"}`);
      }
      if (gone.length > 0) {
        const why = new Map<string, number>();
        for (const g of gone) why.set(g.ended!, (why.get(g.ended!) ?? 0) + 1);
        stoppedBy = `${gone.length} streams dropped at ${sims.length}: ` +
          [...why].map(([w, n]) => `${w} (${n})`).join(", ");
        // What the node said about it (warnings and errors).
        for (const l of stack.cloud.lines.filter((l) => /"level":(40|50|60)/.test(l)).slice(-15)) {
          log(`  node: ${l.slice(0, 300)}`);
        }
        break;
      }
      if (rss >= o.rssLimitMiB) {
        stoppedBy = "rss limit";
        break;
      }
    }
    return { steps, stoppedBy };
  } finally {
    stopLag();
    for (const s of sims) s.close();
    await store.close();
    await stack.stop();
  }
}

if (import.meta.main) {
  const cap = Number(Deno.args[0] ?? 10_000);
  const step = Number(Deno.args[1] ?? 1_000);
  const { raiseFileLimit } = await import("./procfs.ts");
  await raiseFileLimit(65536);
  const r = await measureAgentsPerNode({ cap, step, rssLimitMiB: 2048, log: console.log });
  console.log(`stopped by: ${r.stoppedBy}`);
}
