/**
 * `deno task soak [--minutes N]`: the soak of issue 11. One real cloud, two tenants with their
 * own agents, and real clients doing a bounded mix of WebSocket tunnels, proxied GETs, RTSP
 * sessions, token revocations, cross-tenant refusals, CLI sessions and agent restarts (SIGTERM and
 * SIGKILL alternately) for N minutes, all on loopback. Every `--sample-seconds` (10) it samples
 * RSS and open descriptors of the cloud and each agent, the store's size and the live streams,
 * printing one line per sample; at the end it prints a table, sparklines, the outcome counts and
 * the verdict (see verdict.ts), writes the JSON (`--out`, default out/soak/latest.json) and exits
 * non-zero when the verdict fails. Ctrl-C ends the load early and still judges what was sampled.
 * @module
 */
import "reflect-metadata";
import { toolArgs } from "../_fixtures/tool_args.ts";
import { Ledger } from "./outcomes.ts";
import {
  agentRestart,
  cliSession,
  crossTenant,
  type OpContext,
  proxyGet,
  rtspSession,
  tokenRevoke,
  tunnelEcho,
} from "./ops.ts";
import { outcomeTable, sampleTable, sparklines, verdictText } from "./report.ts";
import { Rng } from "./rng.ts";
import { progressLine, type Sample, takeSample } from "./sample.ts";
import { BOUNDS, judge, type Verdict } from "./verdict.ts";
import { saveLogs, startWorld, type Tenant } from "./world.ts";

const HELP = `deno task soak — cloud + two tenants' agents under a mixed client load, sampled

Usage: deno task soak [options]

  --minutes N          How long the load runs (default 10; fractions allowed, e.g. 0.75)
  --seed N             Seed of the operation mix (default: random, printed)
  --out FILE           Where the JSON goes (default out/soak/latest.json)
  --sample-seconds N   Sampling period (default 10)
  --rate N             Operations started per second at most (default 2)
  --concurrency N      Operations in flight at most (default 4)
  --restart-signals L  Signals the agent restarts cycle through (default SIGTERM,SIGKILL)
  -h, --help           Show this help

Every sample prints one line. The verdict (after a warm-up of max(2 min, 20%), at most half the
run): RSS of the cloud and of the never-restarted agent grows < max(10%, 20 MiB); descriptors after
the load settle within ${BOUNDS.fdSlack} of before it; no unexpected outcome; no "survived" log
line. Exit code 0 when it passes, 1 when it fails, 2 on bad arguments.`;

const args = toolArgs("deno task soak", {
  help: { type: "boolean", short: "h" },
  minutes: { type: "string", default: "10" },
  seed: { type: "string" },
  out: { type: "string", default: "out/soak/latest.json" },
  "sample-seconds": { type: "string", default: "10" },
  rate: { type: "string", default: "2" },
  concurrency: { type: "string", default: "4" },
  "restart-signals": { type: "string", default: "SIGTERM,SIGKILL" },
});
if (args.help) {
  console.log(HELP);
  Deno.exit(0);
}
const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    console.error(`--${name} must be a number ≥ ${min} (got ${v})`);
    Deno.exit(2);
  }
  return n;
};
const minutes = num("minutes", args.minutes, 0.1);
const seed = args.seed === undefined
  ? crypto.getRandomValues(new Uint32Array(1))[0]
  : num("seed", args.seed, 0) >>> 0;
const sampleMs = num("sample-seconds", args["sample-seconds"], 1) * 1000;
const rate = num("rate", args.rate, 0.05);
const concurrency = Math.floor(num("concurrency", args.concurrency, 1));
const out = args.out!;
const restartSignals = args["restart-signals"]!.split(",").map((x) => x.trim());
if (!restartSignals.every((x): x is "SIGTERM" | "SIGKILL" => x === "SIGTERM" || x === "SIGKILL")) {
  console.error(`--restart-signals takes SIGTERM and/or SIGKILL (got ${args["restart-signals"]})`);
  Deno.exit(2);
}
const durationMs = minutes * 60_000;
const log = (s: string) => console.log(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

log(
  `soak: ${minutes} min, seed ${seed} (replay the mix with --seed ${seed}), sample every ` +
    `${sampleMs / 1000} s, ≤ ${rate} ops/s, ≤ ${concurrency} in flight, agent restarts with ` +
    `${restartSignals.join("/")}; ` +
    `${navigator.hardwareConcurrency} cores, load ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }`,
);
const world = await startWorld(log);
const rng = new Rng(seed);
const live = { n: 0 };
let start = Date.now();
const ledger = new Ledger();
const ctx: OpContext = { world, ledger, rng, live };
const samples: Sample[] = [];
const [alpha, beta] = world.tenants;
const exitedEarly: string[] = [];
let stopRequested = false;
let tearingDown = false;
world.stack.cloud.exited.then((s) => {
  if (tearingDown) return;
  const how = `exit ${s.code}${s.signal ? `, ${s.signal}` : ""}`;
  exitedEarly.push(`cloud (${how})`);
  log(`THE CLOUD EXITED (${how}); its last lines:`);
  for (const l of world.stack.cloud.lines.slice(-60)) log(`  | ${l}`);
  log("ending the load");
  stopRequested = true;
});

Deno.addSignalListener("SIGINT", () => {
  if (stopRequested) Deno.exit(130);
  log("SIGINT: ending the load early (again to abort)");
  stopRequested = true;
});

function writeJson(verdict: Verdict | null): void {
  const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(
    out,
    JSON.stringify(
      {
        seed,
        minutes,
        sampleSeconds: sampleMs / 1000,
        rate,
        concurrency,
        restartSignals,
        machine: {
          cores: navigator.hardwareConcurrency,
          os: `${Deno.build.os} ${Deno.osRelease()}`,
          deno: Deno.version.deno,
          rtspPeer: world.targets.rtsp.real ? "GStreamer camera + ffprobe" : "fake device",
        },
        bounds: BOUNDS,
        outcomes: ledger.toJSON(),
        surprises: ledger.surprises,
        samples,
        verdict,
      },
      null,
      1,
    ) + "\n",
  );
}

async function sample(phase: Sample["phase"]): Promise<void> {
  const s = await takeSample(world, ledger, live, start, phase);
  samples.push(s);
  log(progressLine(s));
  writeJson(null);
}

async function settle(maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  await sleep(5_000);
  while (Date.now() < until && live.n > 0) await sleep(1_000);
}

// Idle baseline, then the load.
await settle(15_000);
start = Date.now();
await sample("idle-before");
start = Date.now();
ledger.start = start;

const mix = [
  { weight: 5, value: tunnelEcho },
  { weight: 5, value: proxyGet },
  { weight: 1.5, value: rtspSession },
  { weight: 1, value: tokenRevoke },
  { weight: 1, value: (c: OpContext, t: Tenant) => crossTenant(c, t, t === alpha ? beta : alpha) },
] as const;
const restartEveryMs = Math.min(180_000, durationMs / 3);
const cliEveryMs = Math.min(120_000, durationMs / 3);
let nextRestart = start + restartEveryMs;
let nextCli = start + cliEveryMs / 2;
let restarts = 0;
let clis = 0;
const inflight = new Set<Promise<void>>();
const track = (p: Promise<void>) => {
  inflight.add(p);
  p.finally(() => inflight.delete(p));
};
let sampling = false;
const sampler = setInterval(() => {
  if (sampling) return;
  sampling = true;
  sample("load").finally(() => (sampling = false));
}, sampleMs);

let routine = 0;
while (!stopRequested && Date.now() - start < durationMs) {
  const now = Date.now();
  if (now >= nextRestart) {
    nextRestart = now + restartEveryMs;
    const signal = restartSignals[restarts++ % restartSignals.length] as "SIGTERM" | "SIGKILL";
    log(`restarting ${alpha.name}'s agent with ${signal}`);
    track(agentRestart(ctx, alpha, signal));
  }
  if (now >= nextCli) {
    nextCli = now + cliEveryMs;
    track(cliSession(ctx, world.tenants[clis++ % world.tenants.length]));
  }
  if (routine < concurrency) {
    const op = rng.weighted(mix);
    const t = rng.next() < 0.5 ? alpha : beta;
    routine++;
    const p = op(ctx, t).finally(() => routine--);
    track(p);
  }
  await sleep(1000 / rate);
}
log(
  `load over after ${((Date.now() - start) / 60_000).toFixed(1)} min; waiting for ` +
    `${inflight.size} operation(s)`,
);
await Promise.all([...inflight]);
clearInterval(sampler);
while (sampling) await sleep(100);
await settle(30_000);
await sample("idle-after");

const running = async (p: { exited: Promise<unknown> }) =>
  await Promise.race([p.exited.then(() => false), sleep(50).then(() => true)]);
const exited = [...exitedEarly];
for (const t of world.tenants) {
  if (!(await running(t.agent))) exited.push(`agent ${t.name}`);
}
const survived: Record<string, number> = { cloud: world.stack.cloud.count(/survived/) };
for (const t of world.tenants) survived[`agents of ${t.name}`] = 0;
for (const a of world.stack.agents) {
  const owner = world.tenants.find((t) => a === t.agent);
  const key = owner ? `agents of ${owner.name}` : "agents (earlier lives)";
  survived[key] = (survived[key] ?? 0) + a.count(/survived/);
}
const totals = ledger.totals();
const verdict = judge(samples, {
  durationSeconds: (Date.now() - start) / 1000,
  unexpected: totals.unexpected,
  survived,
  exited,
  restarted: world.tenants.filter((t) => t.restartable).map((t) => t.name),
});
writeJson(verdict);
const logs = saveLogs(world, out);

log("\n## Samples\n");
log(sampleTable(samples));
log("\n## Curves (load samples)\n");
log(sparklines(samples));
log("\n## Outcomes\n");
log(outcomeTable(ledger));
if (ledger.surprises.length) {
  log("\nUnexpected outcomes (first ones):");
  for (const s of ledger.surprises) log(`  t=${s.t}s ${s.op} (${s.tenant}): ${s.detail}`);
}
log(`\n## Verdict\n\n${verdictText(verdict)}`);
log(`JSON: ${out}; every process's log: ${logs}/`);
tearingDown = true;
await world.close();
Deno.exit(verdict.pass ? 0 : 1);
