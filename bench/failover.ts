/**
 * Failover, measured (issue 12, guide §5.5): two cloud nodes on one FerretDB (the MongoDB store),
 * N agents given both control endpoints; the node holding them is killed with SIGKILL, the time
 * until each agent's control stream is up on the survivor is taken from the agent's own log, the
 * killed node is restarted on the same ports, and the next round kills the other one. Reports
 * every sample.
 * @module
 */
import { agentNode, agentUpOn, type Proc, type Stack } from "../tests/_fixtures/stack.ts";
import { twoNodes } from "../tests/_fixtures/two_nodes.ts";

/** Seconds from each kill to each agent's stream up on the survivor (agents × kills samples). */
export async function measureFailover(agents: number, kills: number): Promise<number[]> {
  const { n1, n2, stop } = await twoNodes();
  const samples: number[] = [];
  try {
    const q = await n1.quickstart([9]);
    const endpoints = `127.0.0.1:${n1.ports.control},127.0.0.1:${n2.ports.control}`;
    const procs: Proc[] = [];
    for (let i = 0; i < agents; i++) {
      const token = i === 0 ? q.enrollmentToken : await n1.enrollmentToken(q);
      const e = await n1.enroll(token, `agent-${i + 1}`);
      if (e.code !== 0) throw new Error(`enroll: ${e.stderr}`);
      procs.push(await n1.runAgent(e.state, true, { NC_CONTROL_ENDPOINT: endpoints }));
    }
    const nodes = [n1, n2];
    for (let k = 0; k < kills; k++) {
      // Kill the node holding most agents (a loaded machine may split them); time its agents.
      const on = (n: Stack) => procs.filter((p) => agentNode(p) === n.node);
      const [dead, survivor] = on(n1).length >= on(n2).length ? nodes : [n2, n1];
      const victims = on(dead);
      const killedAt = Date.now();
      await dead.cloud.stop("SIGKILL");
      const round = await Promise.all(
        victims.map(async (p) => ((await agentUpOn(p, survivor.node, killedAt)) - killedAt) / 1000),
      );
      samples.push(...round);
      await dead.startCloud();
    }
    return samples;
  } finally {
    await stop();
  }
}

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: number[], q: number): number {
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}

if (import.meta.main) {
  const agents = Number(Deno.args[0] ?? 20);
  const kills = Number(Deno.args[1] ?? 20);
  const s = await measureFailover(agents, kills);
  console.log(
    `failover, ${agents} agents × ${kills} kills: p50 ${quantile(s, 0.5).toFixed(2)} s, ` +
      `p99 ${quantile(s, 0.99).toFixed(2)} s, max ${Math.max(...s).toFixed(2)} s`,
  );
}
