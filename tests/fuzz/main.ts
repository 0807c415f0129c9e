/**
 * `deno task fuzz`: throws seeded hostile input at a real cloud (and its agent) for a given time
 * and reports executions and findings. A finding is a crash, an error that reached the
 * last-resort handler, an ERROR log line (the product logs only real faults at ERROR), an agent
 * that exits, loses its control stream or logs an ERROR, a response
 * outside the documented set (a 500 above all) or one that shows internals, a device receiving a
 * path escape or a cloud credential, the node's memory growing past a bound, or file descriptors
 * it keeps after the last case. Every case is generated from (seed, target, case number), so a
 * finding replays with the command it prints.
 * @module
 */
import { toolArgs } from "../_fixtures/tool_args.ts";
import { Rng } from "./rng.ts";
import { deviceViolations, type Finding, TARGETS } from "./targets.ts";
import { cloudHeapMib, cpuSeconds, rssKib, startWorld } from "./world.ts";

const HELP = `deno task fuzz [options] — fuzz the real cloud on loopback

  --seconds N        how long to run (default 60); --minutes N also works
  --seed N           the seed (default: random, printed at start)
  --target LIST      comma-separated targets: ${
  TARGETS.map((t) => t.name).join(", ")
} (default: all)
  --case N           replay one case of one target (with --seed and --target)
  --jobs N           cases in flight at once (default 4)
  --rss-bound-mib N  the cloud may grow this much over its warmed-up size (default 256)
  --out FILE         where the JSON report goes (default out/fuzz/latest.json)

Exits 1 when anything was found; each finding prints the command that replays it.`;

/** What a run found and did. */
export interface FuzzReport {
  seed: number;
  seconds: number;
  executions: Record<string, number>;
  findings: (Finding & { target: string; case: number; replay: string })[];
  rssKib: { warm: number; end: number };
  /**
   * The cloud's open file descriptors once warm and at the end, after the last cases' sessions
   * had up to {@link FD_SETTLE_MS} to close: a descriptor kept per case is a leak any client could
   * fill the node's limit with.
   */
  fds: { warm: number; end: number };
  /** CPU seconds spent by the fuzzer and every process it started (cloud, relay, agent). */
  cpuSeconds: number;
  /** Per target with checks of its own: how many cases reached each ({@link Target.checks}). */
  checks: Record<string, Record<string, number>>;
}

/** Runs the fuzzer; returns the report (also written to `out`). */
export async function fuzz(opts: {
  seconds: number;
  seed: number;
  targets: string[];
  replayCase?: number;
  rssBoundMib: number;
  /** Cases in flight at once. */
  jobs: number;
  out: string;
  log: (line: string) => void;
}): Promise<FuzzReport> {
  const { log } = opts;
  const targets = TARGETS.filter((t) => opts.targets.includes(t.name));
  if (!targets.length) throw new Error(`no such target: ${opts.targets.join(",")}`);
  log(
    `fuzz: seed ${opts.seed}, targets ${targets.map((t) => t.name).join(",")}, ${opts.seconds} s`,
  );
  const w = await startWorld(log);
  let cloudExited: Deno.CommandStatus | null = null;
  w.stack.cloud.exited.then((s) => (cloudExited = s));
  const report: FuzzReport = {
    seed: opts.seed,
    seconds: opts.seconds,
    executions: Object.fromEntries(targets.map((t) => [t.name, 0])),
    findings: [],
    rssKib: { warm: 0, end: 0 },
    fds: { warm: 0, end: 0 },
    cpuSeconds: 0,
    checks: {},
  };
  const errorLines = /"level":(50|60)/;
  let errorsSeen = w.stack.cloud.count(errorLines);
  // The agents: whatever a case sends (a LAN's answers, a device's, an operator's request), an
  // agent keeps running, keeps its control stream and logs no ERROR.
  const agentLines = /"level":(50|60)|"control stream lost/;
  const agentSeen = w.agents.map((a) => a.proc.count(agentLines));
  const agentExited = w.agents.map(() => false);
  w.agents.forEach((a, i) => a.proc.exited.then(() => (agentExited[i] = true)));
  let hitsSeen = w.deviceHits.length;
  const record = (target: string, n: number, f: Finding) => {
    const replay = `deno task fuzz --seed ${opts.seed} --target ${target} --case ${n}`;
    report.findings.push({ ...f, input: f.input.slice(0, 2000), target, case: n, replay });
    log(`FINDING [${target} #${n}] ${f.kind}: ${f.detail.slice(0, 200).replace(/\s+/g, " ")}`);
    log(`  replay: ${replay}`);
  };
  const started = Date.now();
  let lastProgress = started;
  let next = 0;
  let stopped = false;
  const timeUp = () => stopped || Date.now() - started >= opts.seconds * 1000;
  // Cases are handed out round-robin over the targets; each is generated from its number only,
  // so concurrency changes interleaving, never inputs.
  const worker = async () => {
    while (!timeUp()) {
      if (opts.replayCase !== undefined && next >= targets.length) return;
      const t = targets[next++ % targets.length];
      const n = opts.replayCase ?? report.executions[t.name];
      report.executions[t.name]++;
      if (!report.rssKib.warm && Date.now() - started > Math.min(5_000, opts.seconds * 200)) {
        report.rssKib.warm = rssKib(w.cloudPid);
        report.fds.warm = openFds(w.cloudPid);
      }
      let found: Finding[];
      try {
        found = await withTimeout(t.run(w, Rng.forCase(opts.seed, t.name, n), n), 15_000);
      } catch (e) {
        found = [{ kind: "case failed or hung", detail: String(e), input: "" }];
      }
      for (const f of found) record(t.name, n, f);
      if (cloudExited) {
        if (!stopped) {
          record(t.name, n, {
            kind: "the cloud process exited",
            detail: `${JSON.stringify(cloudExited)}\n${w.stack.cloud.lines.slice(-10).join("\n")}`,
            input: "",
          });
        }
        stopped = true;
        return;
      }
      const errors = w.stack.cloud.count(errorLines);
      if (errors > errorsSeen) {
        const lines = w.stack.cloud.lines.filter((l) => errorLines.test(l)).slice(errorsSeen);
        errorsSeen = errors;
        for (const l of lines) record(t.name, n, { kind: "ERROR logged", detail: l, input: "" });
      }
      w.agents.forEach((a, i) => {
        const seen = a.proc.count(agentLines);
        if (seen > agentSeen[i]) {
          for (const l of a.proc.lines.filter((l) => agentLines.test(l)).slice(agentSeen[i])) {
            const msg = /"msg":"([^"]*)"/.exec(l)?.[1] ?? "a log line";
            record(t.name, n, { kind: `${a.name}: ${msg}`, detail: l, input: "" });
          }
          agentSeen[i] = seen;
        }
        if (agentExited[i] && !stopped) {
          agentExited[i] = false;
          record(t.name, n, {
            kind: `${a.name} exited`,
            detail: a.proc.lines.slice(-10).join("\n"),
            input: "",
          });
        }
      });
      const from = hitsSeen;
      hitsSeen = w.deviceHits.length;
      for (const f of deviceViolations(w, from)) record(t.name, n, f);
      if (Date.now() - lastProgress > 10_000) {
        lastProgress = Date.now();
        const execs = Object.entries(report.executions).map(([k, v]) => `${k} ${v}`).join(", ");
        const heap = await cloudHeapMib(w.stack);
        log(
          `  ${
            Math.round((Date.now() - started) / 1000)
          } s: ${execs}; findings ${report.findings.length}; cloud RSS ${
            Math.round(rssKib(w.cloudPid) / 1024)
          } MiB (heap ${
            heap ? `${heap.used}/${heap.total} MiB used/reserved, external ${heap.external}` : "?"
          } MiB); ${openFds(w.cloudPid)} fds; ${Math.round(cpuSeconds("self"))} CPU s`,
        );
      }
    }
  };
  try {
    const jobs = opts.replayCase === undefined ? opts.jobs : 1;
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    // What the last cases opened (a camera session, a device's ONVIF call) ends by itself within
    // its deadlines; what is still open after that was kept.
    if (report.fds.warm && !cloudExited) {
      for (const until = Date.now() + FD_SETTLE_MS; Date.now() < until;) {
        if (openFds(w.cloudPid) <= report.fds.warm + FD_SLACK) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      report.fds.end = openFds(w.cloudPid);
      if (report.fds.end > report.fds.warm + FD_SLACK) {
        record("all", -1, {
          kind: "file descriptors kept",
          detail: `${report.fds.warm} open once warm, ${report.fds.end} ${
            FD_SETTLE_MS / 1000
          } s after the last case (slack ${FD_SLACK})`,
          input: "",
        });
      }
    }
    report.rssKib.end = rssKib(w.cloudPid);
    for (const t of targets) if (t.checks) report.checks[t.name] = t.checks(w);
    report.cpuSeconds = Math.round(
      // "self" counts the fuzzer and every process it started: cloud, relay, agent, devices.
      cpuSeconds("self"),
    );
    if (
      report.rssKib.warm && report.rssKib.end - report.rssKib.warm > opts.rssBoundMib * 1024
    ) {
      record("all", -1, {
        kind: "memory grew past the bound",
        detail:
          `${report.rssKib.warm} KiB → ${report.rssKib.end} KiB (bound ${opts.rssBoundMib} MiB)`,
        input: "",
      });
    }
    await w.stop();
  }
  const total = Object.values(report.executions).reduce((a, b) => a + b, 0);
  log(
    `fuzz done: ${total} executions (${
      Object.entries(report.executions).map(([k, v]) => `${k} ${v}`).join(", ")
    }), ${report.findings.length} findings, ${report.cpuSeconds} CPU s, cloud RSS ${
      Math.round(report.rssKib.warm / 1024)
    } → ${
      Math.round(report.rssKib.end / 1024)
    } MiB, fds ${report.fds.warm} → ${report.fds.end}, seed ${opts.seed}`,
  );
  for (const [target, checks] of Object.entries(report.checks)) {
    const list = Object.entries(checks).map(([k, v]) => `${k} ${v}`).join(", ");
    log(`  ${target}: cases that reached each check: ${list || "none"}`);
  }
  await Deno.mkdir(opts.out.replace(/\/[^/]*$/, ""), { recursive: true }).catch(() => {});
  await Deno.writeTextFile(opts.out, JSON.stringify(report, null, 2));
  return report;
}

/** How long the last cases' sessions have to close before the descriptors are counted. */
const FD_SETTLE_MS = 40_000;
/** Descriptors the cloud may hold past its warm count at the end (pools, keep-alives). */
const FD_SLACK = 32;

/** The open file descriptors of a process, or 0 when it is gone. */
function openFds(pid: number): number {
  try {
    return [...Deno.readDirSync(`/proc/${pid}/fd`)].length;
  } catch {
    return 0;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error("timed out")), ms))),
  ]);
}

if (import.meta.main) {
  const values = toolArgs("deno task fuzz", {
    seconds: { type: "string" },
    minutes: { type: "string" },
    seed: { type: "string" },
    target: { type: "string" },
    case: { type: "string" },
    "rss-bound-mib": { type: "string", default: "256" },
    jobs: { type: "string", default: "4" },
    out: { type: "string", default: "out/fuzz/latest.json" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const seconds = values.minutes ? Number(values.minutes) * 60 : Number(values.seconds ?? 60);
  const seed = values.seed ? Number(values.seed) : crypto.getRandomValues(new Uint32Array(1))[0];
  if (!Number.isFinite(seconds) || seconds <= 0 || !Number.isInteger(seed)) {
    console.error("error: --seconds/--minutes must be a positive number and --seed an integer");
    Deno.exit(2);
  }
  const report = await fuzz({
    seconds,
    seed,
    targets: (values.target ?? TARGETS.map((t) => t.name).join(",")).split(","),
    replayCase: values.case === undefined ? undefined : Number(values.case),
    rssBoundMib: Number(values["rss-bound-mib"]),
    jobs: Math.max(1, Number(values.jobs)),
    out: values.out!,
    log: (l) => console.error(l),
  });
  Deno.exit(report.findings.length ? 1 : 0);
}
