/**
 * `deno task bench [--quick]`: in one run on loopback, the same work through the direct path,
 * OpenSSH `ssh -R`, the CLI tunnel (`connector tunnel run`) and the raw WebSocket tunnel — bulk
 * one stream each way, open + first byte round trips, concurrent idle tunnels and the memory
 * each costs (the cloud's split into JS heap and buffers, and the bare runtime's floor per idle
 * connection; `bench/idle.ts` runs just the cloud's figures), small HTTP GETs with wrk (also
 * through the browser proxy `/c/{h}/`), 100 concurrent 2 Mbit/s RTSP streams directly, through
 * `ssh -R` and through the cloud's gateway (`--rtsp-streams=N` for another count; rtsp.ts says
 * how they are checked), the live view's time to first picture, the console's lists at 10,000
 * devices, agent idle RSS (and the bare runtime's), interactive round trips under bulk (on
 * loopback, and over a 50 Mbit/s link in a network namespace: `slow_link.ts`), the WebSocket
 * server candidates, CPU seconds per GB moved (per process too), and agents
 * per node (simulated). Bulk and wrk measure every path in interleaved rounds (`rounds.ts`).
 * Prints a markdown table with each figure's ratio to `ssh -R` and to direct, then issue 13's
 * targets judged from it (`goals.ts`), and writes bench/results/latest.json (or `--out=FILE`;
 * `--only=bulk,latency,wanopen,wanbulk,interactive,http,rtsp,live,idle,dataplanes,wsservers,failover,bridge,lists,agents,slowlink`
 * for some sections). Never a pass/fail test: `--quick` (tiny sizes) only proves the bench still runs
 * (tests/e2e/bench_quick_test.ts).
 * @module
 */
import "reflect-metadata";
import { toolArgs } from "../tests/_fixtures/tool_args.ts";
import { measureDataPlanes } from "./dataplane.ts";
import { measureWsServers } from "./ws_servers.ts";
import { measureFailover, quantile } from "./failover.ts";
import { measureLists } from "./lists.ts";
import { measureFloor, memoryGauges, metricValue } from "./idle.ts";
import {
  measureBridgedVsDirect,
  measureFramedBridge,
  measureLiveThroughSibling,
} from "./bridge.ts";
import { measureAgentsPerNode } from "./agents_per_node.ts";
import { measureSlowLink } from "./slow_link.ts";
import { measureWanOpen } from "./wan_open.ts";
import { measureWanBulk } from "./wan_bulk.ts";
import { cpuSeconds, processTree, raiseFileLimit, rssKiB, rssSplitKiB } from "./procfs.ts";
import { markdown, type Row, withRatios } from "./report.ts";
import { interleaved, roundsNote, summarize } from "./rounds.ts";
import { verdicts, verdictTable } from "./goals.ts";
import {
  type Camera,
  CAMERA_2M_ARGS,
  CAMERA_PATH,
  decodeErrors,
  measureRtsp,
  type RtspResult,
  startCamera,
} from "./rtsp.ts";
import { browserLatency, fanOut, timeToFirstPicture } from "./live.ts";
import { type BenchPath, startWorld, type World } from "./world.ts";
import { bulk, firstByte, interactiveUnderBulk, openIdle, toEnd, wrk } from "./workloads.ts";
import type { Stream } from "./streams.ts";
import { IDLE_PAGE_OUT_QUIET_MS, IDLE_TRIM_QUIET_MS } from "../src/agent/idle_trim.ts";

/** The sections `--only` may name. */
const SECTIONS = [
  "bulk",
  "latency",
  "wanopen",
  "wanbulk",
  "interactive",
  "http",
  "rtsp",
  "live",
  "idle",
  "dataplanes",
  "wsservers",
  "failover",
  "bridge",
  "lists",
  "agents",
  "slowlink",
];
const args = toolArgs("deno task bench", {
  quick: { type: "boolean" },
  out: { type: "string" },
  only: { type: "string" },
  "rtsp-streams": { type: "string" },
  rounds: { type: "string" },
  help: { type: "boolean", short: "h" },
});
if (args.help) {
  console.log(`deno task bench [options] — the data plane against ssh -R and the direct path

  --quick             tiny sizes: proves the bench runs (no figure is meant)
  --only=LIST         just these sections, comma-separated: ${SECTIONS.join(", ")}
  --rtsp-streams=N    concurrent RTSP streams (default 100)
  --rounds=N          bulk and wrk: every path N times, interleaved, each figure the median
                      with its range in the note (default 3; 2 with --quick; 1 to 9)
  --out=FILE          the JSON results (default bench/results/latest.json)

Prints a markdown table of every figure with its ratio to ssh -R and to direct.`);
  Deno.exit(0);
}
const quick = args.quick === true;
const out = args.out ?? new URL("./results/latest.json", import.meta.url).pathname;
const MiB = 1 << 20;
const cfg = quick
  ? {
    bulk: 4 * MiB,
    opens: 50,
    idle: [50],
    wrkSeconds: 1,
    rtspStreams: 2,
    rtspDecoders: 1,
    rtspSeconds: 2,
    rounds: Number(args.rounds ?? 2),
  }
  : {
    bulk: 256 * MiB,
    opens: 1000,
    idle: [1000, 10000],
    wrkSeconds: 5,
    rtspStreams: Number(args["rtsp-streams"] ?? 100),
    rtspDecoders: 4,
    rtspSeconds: 10,
    rounds: Number(args.rounds ?? 3),
  };
const log = (s: string) => console.error(s);
/**
 * `--only=bulk,latency,wanopen,wanbulk,interactive,http,rtsp,live,idle,dataplanes,wsservers,failover,bridge,lists,agents,slowlink`
 * runs just those sections
 * (default: all).
 */
const only = args.only?.split(",");
const strange = only?.filter((x) => !SECTIONS.includes(x)) ?? [];
if (strange.length) {
  console.error(
    `deno task bench: --only: no section ${strange.join(", ")}; the sections: ${
      SECTIONS.join(", ")
    }`,
  );
  Deno.exit(2);
}
const streamsArg = args["rtsp-streams"];
if (
  streamsArg !== undefined && !(Number.isInteger(Number(streamsArg)) && Number(streamsArg) >= 1)
) {
  console.error(`deno task bench: --rtsp-streams: expected a whole number ≥ 1`);
  Deno.exit(2);
}
if (!(Number.isInteger(cfg.rounds) && cfg.rounds >= 1 && cfg.rounds <= 9)) {
  console.error(`deno task bench: --rounds: expected a whole number from 1 to 9`);
  Deno.exit(2);
}
const want = (section: string) => !only || only.includes(section);
const rows: Row[] = [];
const skipped: string[] = [];

/** Where the run is, by the sections `guarded` ran (for the camera watcher's report). */
let where = "before the first section";

/**
 * Runs one section; when it fails, the reason goes to `skipped` and the run goes on, so one
 * section's fault (a limit of the machine, a peer that would not start) never loses the others.
 */
async function guarded(section: string, fn: () => Promise<void>): Promise<void> {
  where = `during the ${section} section`;
  try {
    await fn();
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    log(`${section}: failed: ${why}`);
    skipped.push(`${section}: failed: ${why}`);
  } finally {
    where = `after the ${section} section`;
  }
}

async function settle(ms = 1000): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/**
 * Waits until the agent has a device just added (its allowlist pushed): a tunnel to the handle
 * opens only then. The live player opens its camera once and does not retry, so a page opened
 * before the push reached the agent — after a fixed 1 s wait, which a loaded machine outran —
 * never played.
 */
async function allowlisted(w: World, handle: string): Promise<void> {
  for (let waited = 0;; waited += 200) {
    const ws = await w.stack.openTunnel(handle, w.apiToken).then((ws) => ws, () => null);
    if (ws) return ws.close();
    if (waited > 30_000) throw new Error(`the tunnel to ${handle} never opened`);
    await settle(200);
  }
}

async function bulkSection(w: World): Promise<void> {
  const paths = w.paths;
  // Stream windows the cloud grew while each path moved its bulk (receiving: the downloads). A
  // loopback link grows none unless the machine is so busy that a PING waits over 5 ms; bigger
  // windows move bulk faster (README, "windows that grow"), so a run says when it had them.
  const grownNow = async () =>
    w.metricsUrl ? (await metricValue(w.metricsUrl, "connector_data_windows_grown_total")) : null;
  const grown = new Map<BenchPath, number>();
  const results = await interleaved(cfg.rounds, paths, async (p, round) => {
    log(`bulk ${cfg.bulk / MiB} MiB each way, round ${round + 1} of ${cfg.rounds}: ${p.name} …`);
    const tunnel = p.name === "CLI tunnel" || p.name === "WebSocket tunnel";
    const before = tunnel ? await grownNow() : null;
    const r = await bulk(p.open.bulk, cfg.bulk, p.procs);
    const after = tunnel ? await grownNow() : null;
    if (before !== null && after !== null) grown.set(p, (grown.get(p) ?? 0) + after - before);
    return r;
  });
  for (const p of paths) {
    const rs = results.get(p)!;
    const windows = grown.has(p) ? `stream windows the cloud grew: ${grown.get(p)}` : undefined;
    const row = (
      figure: string,
      path: string,
      values: number[],
      unit: string,
      better: Row["better"],
      note?: string,
    ) => {
      const s = summarize(values);
      rows.push({
        figure,
        path,
        value: s.median,
        unit,
        better,
        note: [note, roundsNote(s)].filter(Boolean).join("; ") || undefined,
        samples: s.samples,
      });
    };
    row("bulk upload (1 stream)", p.name, rs.map((r) => r.upGbps), "Gbit/s", "higher");
    row("bulk download (1 stream)", p.name, rs.map((r) => r.downGbps), "Gbit/s", "higher", windows);
    const cpu = rs.map((r) => r.cpuSecPerGB);
    if (cpu.every((v) => v !== null)) {
      row("CPU per GB moved (bulk)", p.name, cpu as number[], "CPU s/GB", "lower", p.procs?.label);
    }
    rs[0].cpuSplit.forEach((part, i) => {
      row(
        "CPU per GB moved (bulk), one process",
        `${p.name}: ${part.name}`,
        rs.map((r) => r.cpuSplit[i].secPerGB),
        "CPU s/GB",
        "lower",
      );
      for (const [way, of] of [["upload", "upSecPerGB"], ["download", "downSecPerGB"]] as const) {
        row(
          `CPU per GB moved (bulk ${way}), one process`,
          `${p.name}: ${part.name}`,
          rs.map((r) => r.cpuSplit[i][of]),
          "CPU s/GB",
          "lower",
        );
      }
    });
  }
}

async function latencySection(paths: BenchPath[]): Promise<void> {
  const shorts = Math.max(5, cfg.opens / 10);
  for (const p of paths) {
    log(`open + 1 000 bytes to the end of stream ×${shorts}: ${p.name} …`);
    const e = await toEnd(p.open.bulk, shorts);
    for (const [q, v] of [["p50", e.p50], ["p99", e.p99]] as const) {
      rows.push({
        figure: `open + 1 000 bytes to the end of stream ${q} (×${shorts})`,
        path: p.name,
        value: v,
        unit: "ms",
        better: "lower",
      });
    }
    log(`open + first byte ×${cfg.opens}: ${p.name} …`);
    const r = await firstByte(p.open.echo, cfg.opens);
    rows.push(
      {
        figure: `open + first byte p50 (×${cfg.opens})`,
        path: p.name,
        value: r.p50,
        unit: "ms",
        better: "lower",
      },
      {
        figure: `open + first byte p99 (×${cfg.opens})`,
        path: p.name,
        value: r.p99,
        unit: "ms",
        better: "lower",
      },
    );
  }
}

/** The round trip of the emulated operator link in `wanopen`. */
const WAN_RTT_MS = 40;

async function wanOpenSection(w: World): Promise<void> {
  const n = quick ? 5 : 100;
  log(`open + first byte over a ${WAN_RTT_MS} ms link ×${n} …`);
  for (const r of await measureWanOpen(w, WAN_RTT_MS, n)) {
    rows.push(
      {
        figure: `open + first byte p50 over a ${WAN_RTT_MS} ms round-trip link (×${n})`,
        path: r.path,
        value: r.p50,
        unit: "ms",
        better: "lower",
      },
      {
        figure: `open + first byte p99 over a ${WAN_RTT_MS} ms round-trip link (×${n})`,
        path: r.path,
        value: r.p99,
        unit: "ms",
        better: "lower",
      },
    );
  }
}

/** The round trip between the agent and its cloud node in `wanbulk`. */
const WAN_BULK_RTT_MS = 40;

async function wanBulkSection(w: World): Promise<void> {
  const bytes = quick ? 2 * MiB : 64 * MiB;
  log(`bulk ${bytes / MiB} MiB each way over a ${WAN_BULK_RTT_MS} ms link …`);
  for (const r of await measureWanBulk(w, WAN_BULK_RTT_MS, bytes)) {
    for (const [dir, v] of [["upload", r.upGbps], ["download", r.downGbps]] as const) {
      rows.push({
        figure: `bulk ${dir} over a ${WAN_BULK_RTT_MS} ms round-trip link (1 stream)`,
        path: r.path,
        value: v,
        unit: "Gbit/s",
        better: "higher",
      });
    }
  }
}

async function interactiveSection(paths: BenchPath[]): Promise<void> {
  for (const p of paths.filter((p) => p.name !== "direct")) {
    log(`interactive round trips under bulk ×${cfg.opens / 2}: ${p.name} …`);
    const r = await interactiveUnderBulk(p.load, p.open.echo, cfg.opens / 2);
    for (
      const [figure, v] of [
        ["interactive round trip p50, no bulk", r.quiet.p50],
        ["interactive round trip p99, no bulk", r.quiet.p99],
        ["interactive round trip p50, bulk both ways on the same connection", r.loaded.p50],
        ["interactive round trip p99, bulk both ways on the same connection", r.loaded.p99],
      ] as const
    ) rows.push({ figure, path: p.name, value: v, unit: "ms", better: "lower" });
  }
}

async function httpSection(w: World): Promise<void> {
  const runs: [string, string, Record<string, string>][] = w.paths
    .filter((p) => p.httpUrl)
    .map((p) => [p.name, p.httpUrl!, {}]);
  runs.push([
    "browser proxy /c/{h}/",
    `${w.stack.url}/c/${w.handles.http}/`,
    { authorization: `Bearer ${w.apiToken}` },
  ]);
  const results = await interleaved(cfg.rounds, runs, ([name, url, headers], round) => {
    log(`wrk 64 connections ${cfg.wrkSeconds} s, round ${round + 1} of ${cfg.rounds}: ${name} …`);
    return wrk(url, cfg.wrkSeconds, headers);
  });
  for (const run of runs) {
    const rs = results.get(run)!;
    const s = summarize(rs.map((r) => r.rps));
    const errors = rs.map((r) => r.errors).filter((e) => e !== null);
    rows.push({
      figure: "small HTTP GETs (wrk, 64 conns)",
      path: run[0],
      value: s.median,
      unit: "req/s",
      better: "higher",
      note: [roundsNote(s), ...errors].filter(Boolean).join("; ") || undefined,
      samples: s.samples,
    });
  }
}

async function idleSection(w: World): Promise<void> {
  const ws = w.paths.find((p) => p.name === "WebSocket tunnel")!;
  const ssh = w.paths.find((p) => p.name === "ssh -R")!;
  for (const p of [ssh, ws]) {
    const held: Stream[] = [];
    await settle();
    const base = { cloud: rssKiB(w.cloudPid), agent: rssKiB(w.agentPid), group: p.procs!.rssKiB() };
    const baseGauges = p === ws && w.metricsUrl ? await memoryGauges(w.metricsUrl) : null;
    let error: string | null = null;
    for (const n of cfg.idle) {
      if (error) break;
      log(`${n} idle tunnels: ${p.name} …`);
      const r = await openIdle(p.open.echo, n - held.length);
      held.push(...r.opened);
      error = r.error;
      await settle();
      const k = held.length;
      const note = k < n
        ? `only ${k} opened: ${error} (open-file limit ${fd.limit}; a cloud tunnel holds 2)`
        : `${k} open`;
      const per = (now: number, before: number) => (k ? (now - before) / k : null);
      rows.push({
        figure: `idle tunnels ×${n}: RSS per tunnel, both ends`,
        path: p.name,
        value: per(p.procs!.rssKiB(), base.group),
        unit: "KiB",
        better: "lower",
        note: `${p.procs!.label}; ${note}`,
      });
      if (p === ws) {
        for (const [end, pid] of [["cloud", w.cloudPid], ["agent", w.agentPid]] as const) {
          rows.push({
            figure: `idle tunnels ×${n}: RSS per tunnel, ${end}`,
            path: p.name,
            value: per(rssKiB(pid), base[end]),
            unit: "KiB",
            better: "lower",
            note,
          });
        }
        // Where the cloud's share is: the JavaScript heap (live objects and garbage not yet
        // collected) and buffers outside it, from its /metrics.
        const g = w.metricsUrl && baseGauges ? await memoryGauges(w.metricsUrl) : null;
        if (g && baseGauges && k) {
          for (
            const [what, now, before] of [
              ["JS heap", g.heap, baseGauges.heap],
              ["external buffers", g.external, baseGauges.external],
            ] as const
          ) {
            rows.push({
              figure: `idle tunnels ×${n}: cloud ${what} per tunnel`,
              path: p.name,
              value: (now - before) / 1024 / k,
              unit: "KiB",
              better: "lower",
              note:
                "from the cloud's /metrics (garbage not yet collected included); part of its RSS",
            });
          }
        }
      }
    }
    for (const s of held) s.close();
  }
  await settle(2000);
  // The floor: what the runtime alone costs per idle connection (a bare deno process holding
  // one pending 512-byte read on each TCP connection, nothing else per connection).
  log(`bare runtime floor: ${cfg.idle.join(", ")} idle connections …`);
  for (const f of await measureFloor(cfg.idle)) {
    rows.push({
      figure: `idle tunnels ×${f.n}: RSS per tunnel, cloud`,
      path: "bare deno runtime (floor)",
      value: f.rssKiB,
      unit: "KiB",
      better: "lower",
      note: "one idle TCP connection with a pending read, nothing else",
    });
  }
}

/** The RTSP section's camera, and what befell it before the section (the watcher's account). */
interface RtspCamera {
  camera: Camera | null;
  went: string | null;
}

async function rtspSection(w: World, held: RtspCamera): Promise<void> {
  const cam = w.extra.rtsp2m;
  if (!held.camera || !cam) return;
  if (w.rtspPort === null) {
    skipped.push("RTSP: not available: the cloud has no RTSP listener (--rtsp)");
    return;
  }
  // A camera that went while it idled (twice in whole runs; why is not known yet) is started
  // again on its port, and the section's rows say so; one that goes during the section fails
  // it, reported as such and not as 100 refused clients of the next path.
  let restarted: string | undefined;
  const before = await held.camera.trouble();
  if (before) {
    await held.camera.close();
    held.camera = null;
    const again = await startCamera([...CAMERA_2M_ARGS, "--port", String(cam.port)]);
    if ("unavailable" in again) {
      throw new Error(
        `the 2 Mbit/s camera (rtsp_server.py): ${before}; restarting it: ${again.unavailable}`,
      );
    }
    held.camera = again;
    restarted = `the camera was started again before the section (${held.went ?? before})`;
    log(`  ${restarted}`);
  }
  const camera = held.camera;
  const check = async (when: string) => {
    const trouble = await camera.trouble();
    if (trouble) throw new Error(`the 2 Mbit/s camera (rtsp_server.py), ${when}: ${trouble}`);
  };
  const tree = (pid: number) => () => processTree(pid).reduce((n, p) => n + cpuSeconds(p), 0);
  const cameraCpu = tree(camera.pid);
  const cloud = tree(w.cloudPid);
  const agent = tree(w.agentPid);
  const paths: [string, string, Record<string, () => number>][] = [
    ["direct", `rtsp://127.0.0.1:${cam.port}/${CAMERA_PATH}`, { camera: cameraCpu }],
    [
      "ssh -R",
      `rtsp://127.0.0.1:${cam.sshPort}/${CAMERA_PATH}`,
      { camera: cameraCpu, relay: () => w.sshGroup.cpuSeconds() },
    ],
    [
      "RTSP gateway :9554",
      `rtsp://bench:${w.apiToken}@127.0.0.1:${w.rtspPort}/${cam.handle}/${CAMERA_PATH}`,
      { camera: cameraCpu, relay: () => cloud() + agent(), cloud, agent },
    ],
  ];
  const n = cfg.rtspStreams;
  const what = `RTSP ×${n} concurrent streams at 2 Mbit/s`;
  for (const [name, url, cpu] of paths) {
    log(`${what} (${cfg.rtspDecoders} decoded by ffmpeg) × ${cfg.rtspSeconds} s: ${name} …`);
    let r: RtspResult;
    try {
      r = await measureRtsp(url, n, cfg.rtspDecoders, cfg.rtspSeconds, cpu);
    } catch (e) {
      skipped.push(`${what} via ${name}: ${(e as Error).message}`);
      await check(`after ${name}`);
      continue;
    }
    await check(`after ${name}`);
    const c = (k: string) => r.cores[k].toFixed(3);
    log(
      `  ${name}: ${r.flowing}/${r.streams} flowing at ${r.mbpsMedian.toFixed(2)} Mbit/s ` +
        `(lowest ${r.mbpsMin.toFixed(2)}), ${decodeErrors(r)} decode errors; CPU cores: ` +
        Object.entries(r.cores).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ") +
        `; machine busy ${r.machineCores.toFixed(2)}`,
    );
    rows.push(
      {
        figure: `${what}: decode errors`,
        path: name,
        value: decodeErrors(r),
        unit: "errors",
        better: "lower",
        note:
          `${
            restarted ? `${restarted}; ` : ""
          }${r.flowing}/${r.streams} flowing; ${r.lost} RTP packets lost, ${r.malformed} ` +
          `malformed (all clients), ${r.decoderErrors} ffmpeg error lines (${r.decoders} ` +
          `full decoders${
            r.decoderErrorsWhileJoining
              ? `; ${r.decoderErrorsWhileJoining} more while they joined, not counted`
              : ""
          })${r.failed ? `; ${r.failed} clients failed` : ""}${
            r.sample ? `; first: ${r.sample.slice(0, 80)}` : ""
          }`,
      },
      {
        figure: `${what}: received per stream (median)`,
        path: name,
        value: r.mbpsMedian,
        unit: "Mbit/s",
        better: "higher",
        note: `lowest ${r.mbpsMin.toFixed(2)}; ${r.fpsMedian.toFixed(1)} fps; over ${
          r.seconds.toFixed(1)
        } s`,
      },
      {
        figure: `${what}: frames received and checked`,
        path: name,
        value: r.framesChecked,
        unit: "frames",
        better: "higher",
        note: `${
          n - r.decoders
        } light clients; ffmpeg decoded ${r.framesDecoded} frames of ${r.decoders} streams`,
      },
      {
        figure: `${what}: clients' CPU`,
        path: name,
        value: r.cores.clients,
        unit: "cores",
        better: "lower",
        note: `light clients + ffmpeg decoders; camera ${c("camera")}; machine busy ${
          r.machineCores.toFixed(2)
        } of ${navigator.hardwareConcurrency} cores`,
      },
    );
    if (cpu.relay) {
      rows.push({
        figure: `${what}: CPU of the path's processes`,
        path: name,
        value: r.cores.relay,
        unit: "cores",
        better: "lower",
        note: name === "ssh -R" ? "sshd + ssh" : `cloud ${c("cloud")} + agent ${c("agent")}`,
      });
    }
    if (cpu.cloud) {
      rows.push(
        {
          figure: `${what}: cloud CPU (process tree)`,
          path: name,
          value: r.cores.cloud,
          unit: "cores",
          better: "lower",
          note: "target ≤ 1 core",
        },
        {
          figure: `${what}: agent CPU (process tree)`,
          path: name,
          value: r.cores.agent,
          unit: "cores",
          better: "lower",
        },
      );
    }
  }
}

async function liveSection(w: World, camera: { port: number } | null): Promise<void> {
  if (!camera) return;
  const cam = w.extra.rtsp;
  const url = `ws://127.0.0.1:${w.stack.ports.http}/api/live/${cam.handle}?path=/${CAMERA_PATH}`;
  const runs = quick ? 1 : 10;
  log(`live view: time to first picture, ${runs} run(s) …`);
  try {
    const r = await timeToFirstPicture(url, w.apiToken, runs);
    for (
      const [path, value] of [["live view, cold", r.cold], ["live view, warm", r.warm]] as const
    ) {
      rows.push({
        figure: "time to first picture (p50)",
        path,
        value,
        unit: "ms",
        better: "lower",
        note: path.endsWith("cold")
          ? "opens the camera session; first media segment at the WebSocket client"
          : "a second viewer joins a running session",
      });
    }
  } catch (e) {
    skipped.push(`live view: ${(e as Error).message}`);
  }
  // Latency, in Chromium: from the cloud's receipt of a picture to its presentation, and glass to
  // glass — from the capture time a clock camera burns into each picture to its display.
  const clockCam = await startCamera(["--pattern", "clock"]);
  if ("unavailable" in clockCam) skipped.push(`live latency: ${clockCam.unavailable}`);
  else {
    try {
      const sites = await (await fetch(`${w.stack.url}/api/sites`, {
        headers: { authorization: `Bearer ${w.apiToken}` },
      })).json();
      const site = (sites.items ?? sites)[0];
      const dev = await (await fetch(`${w.stack.url}/api/sites/${site.id}/devices`, {
        method: "POST",
        headers: { authorization: `Bearer ${w.apiToken}`, "content-type": "application/json" },
        body: JSON.stringify({ host: "127.0.0.1", ports: [clockCam.port], label: "clock camera" }),
      })).json();
      await allowlisted(w, dev.handles[clockCam.port]);
      const user = await w.stack.addUser(site.tenantId);
      const cookie = await w.stack.signIn(user.email, user.password);
      const seconds = quick ? 2 : 10;
      log(`live view: latency in Chromium, ${seconds} s …`);
      const r = await browserLatency(
        `${w.stack.url}/live/${dev.handles[clockCam.port]}?path=/${CAMERA_PATH}`,
        cookie,
        seconds,
        true,
      );
      rows.push({
        figure: "live view latency: cloud receipt → presented in Chromium (p50)",
        path: "live view",
        value: r.cloud.p50,
        unit: "ms",
        better: "lower",
        note: `p95 ${r.cloud.p95.toFixed(0)} ms over ${r.cloud.frames} frames`,
      });
      const g = r.glass!;
      if (!g.frames) skipped.push(`glass-to-glass: no readable frame (${g.unreadable} unreadable)`);
      else {
        rows.push({
          figure: "live view latency: glass to glass (p50)",
          path: "live view",
          value: g.p50,
          unit: "ms",
          better: "lower",
          note: `p95 ${
            g.p95.toFixed(0)
          } ms over ${g.frames} frames (${g.unreadable} unreadable): capture time burned into the picture → displayed in Chromium; includes the camera's x264 encode`,
        });
      }
    } catch (e) {
      skipped.push(`live latency: ${(e as Error).message}`);
    } finally {
      await clockCam.close();
    }
  }
  // Fan-out cost: 4 cameras at 2 Mbit/s (640×480, an incompressible pattern), 4 viewers each.
  // (--quick: small pictures of the plain pattern; it only proves the section runs.)
  const fan = await startCamera(
    quick ? ["--mounts", "4"] : [
      "--mounts",
      "4",
      "--bitrate",
      "2000",
      "--size",
      "640x480",
      "--pattern",
      "snow",
    ],
  );
  if ("unavailable" in fan) return void skipped.push(`live fan-out: ${fan.unavailable}`);
  try {
    const api = (method: string, path: string, body?: unknown) =>
      fetch(`${w.stack.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${w.apiToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then((r) => r.json());
    const sites = await api("GET", "/api/sites");
    const siteId = (sites.items ?? sites)[0].id;
    const dev = await api("POST", `/api/sites/${siteId}/devices`, {
      host: "127.0.0.1",
      ports: [fan.port],
      label: "bench cameras",
    });
    const handle = dev.handles[fan.port];
    await allowlisted(w, handle);
    const urls = [1, 2, 3, 4].map((n) =>
      `ws://127.0.0.1:${w.stack.ports.http}/api/live/${handle}?path=/live/cam${n}`
    );
    const seconds = quick ? 2 : 10;
    log(`live view: 16 viewers of 4 cameras, ${seconds} s …`);
    const cpu = () => processTree(w.cloudPid).reduce((n, pid) => n + cpuSeconds(pid), 0);
    // A freshly started camera may answer 503 while its four encoders spin up: retry a little.
    let r: Awaited<ReturnType<typeof fanOut>> | null = null;
    for (let attempt = 1; !r; attempt++) {
      try {
        r = await fanOut(urls, 4, w.apiToken, seconds, cpu);
      } catch (e) {
        if (attempt >= 3) throw e;
        log(`  (${(e as Error).message}; retrying)`);
        await settle(2000);
      }
    }
    rows.push({
      figure: "live view: 16 viewers of 4 cameras, cloud CPU",
      path: "live view",
      value: r.cloudCores,
      unit: "cores",
      better: "lower",
      note: `${r.flowing}/16 viewers flowing, ${r.perViewerMbps.toFixed(2)} Mbit/s per viewer`,
    });
  } catch (e) {
    skipped.push(`live fan-out: ${(e as Error).message}`);
  } finally {
    await fan.close();
  }
}

const wantFds = quick ? 4096 : 65536;
const fd = await raiseFileLimit(wantFds);
if (fd.note) log(`open files limit: ${fd.note}`);

/**
 * The sections that start worlds of their own (two nodes on FerretDB, 10 000 devices, 9 000
 * simulated agents, server candidates, a shaped link, the data planes). They run after the main
 * world's sections: a machine that has just held 9 000 simulated agents moved bulk 15–30 % slower
 * for minutes, `ssh -R` and direct too (README "Performance", the fifteenth run).
 */
async function sectionsInWorldsOfTheirOwn(): Promise<void> {
  if (want("failover")) {
    await guarded("failover", async () => {
      const [agents, kills] = quick ? [2, 1] : [20, 20];
      log(`failover: ${agents} agents, ${kills} node kills …`);
      const samples = await measureFailover(agents, kills);
      for (const [q, name] of [[0.5, "p50"], [0.99, "p99"]] as const) {
        rows.push({
          figure: `node killed → agents' control stream up on the survivor, ${name}`,
          path: `${agents} agents × ${kills} kills`,
          value: quantile(samples, q),
          unit: "s",
          better: "lower",
        });
      }
    });
  }

  if (want("lists")) {
    await guarded("lists", async () => {
      const [devices, reps] = quick ? [500, 3] : [10_000, 50];
      log(`lists: a site with ${devices} devices and ${devices} agents, each list ×${reps} …`);
      for (const t of await measureLists(devices, reps)) {
        for (const [name, v] of [["p50", t.p50], ["p99", t.p99]] as const) {
          rows.push({
            figure: `lists at ${
              devices.toLocaleString("en-US")
            } devices and agents, ${name} per page`,
            path: t.list,
            value: v,
            unit: "ms",
            better: "lower",
            note: `${Math.round(t.bytes / 1024)} KiB`,
          });
        }
      }
    });
  }

  if (want("bridge")) {
    await guarded("bridge", async () => {
      log(`bridge: WebSocket tunnel entering on the owning node vs its sibling …`);
      const b = await measureBridgedVsDirect(cfg.bulk / 2);
      for (
        const [path, v] of [["entering on the owner", b.direct], ["bridged", b.bridged]] as const
      ) {
        rows.push({
          figure: "WS tunnel echo, two nodes",
          path,
          value: v,
          unit: "Gbit/s",
          better: "higher",
        });
      }
      rows.push({
        figure: "BridgeTunnel carrier, in-process, one way",
        path: "framed node:tls (in use)",
        value: await measureFramedBridge(cfg.bulk),
        unit: "Gbit/s",
        better: "higher",
      });
      const runs = quick ? 1 : 10;
      log(`bridge: live view through the agent's node vs its sibling, ${runs} run(s) …`);
      const live = await measureLiveThroughSibling(runs, quick ? 2 : 20);
      if (typeof live === "string") skipped.push(`live view through a sibling: ${live}`);
      else {
        rows.push({
          figure: "live view, each picture later at the sibling's viewer than the owner's (p50)",
          path: "via its sibling",
          value: live.lag.p50,
          unit: "ms",
          better: "lower",
          note: `p95 ${live.lag.p95.toFixed(1)} ms over ${live.lag.pictures} pictures both got`,
        });
        const via = [["the agent's node", live.owner], ["its sibling", live.sibling]] as const;
        for (const [at, v] of via) {
          for (const [when, value] of [["cold", v.cold], ["warm", v.warm]] as const) {
            rows.push({
              figure: "live view, time to first picture (p50), two nodes",
              path: `via ${at}, ${when}`,
              value,
              unit: "ms",
              better: "lower",
              ...(at === "its sibling" && when === "cold"
                ? { note: "subscribes to the camera session the agent's node plays" }
                : {}),
            });
          }
        }
      }
    });
  }

  if (want("agents")) {
    await guarded("agents", async () => {
      const [goal, step] = quick ? [20, 10] : [10_000, 1_000];
      // The simulated agents live in this process, two descriptors each (control stream and data
      // connection): past the open-file limit they would fail for a reason of this machine's.
      const cap = Math.min(goal, Math.floor((fd.limit - 1024) / 2 / step) * step);
      if (cap < goal) {
        log(`agents per node: capped at ${cap} by the open-file limit ${fd.limit} (2 per agent)`);
      }
      log(`agents per node: simulated agents until 2 GiB node RSS or ${cap} …`);
      const r = await measureAgentsPerNode({ cap, step, rssLimitMiB: 2048, log });
      // The last step where every stream held (a step that lost streams does not count).
      const last = r.steps.filter((st) => st.dropped === 0).at(-1);
      const path = "simulated agents, one node";
      const note = `stopped by ${r.stoppedBy}` +
        (cap < goal ? ` (capped by the open-file limit ${fd.limit})` : "");
      rows.push(
        {
          figure: "agents per node (≤ 2 GiB RSS)",
          path,
          value: last?.agents ?? 0,
          unit: "agents",
          better: "higher",
          note,
        },
        {
          figure: "node RSS per agent",
          path,
          value: last?.rssPerAgentKiB ?? null,
          unit: "KiB",
          better: "lower",
          note: `at ${last?.agents ?? 0} agents`,
        },
        {
          figure: "heartbeat lag p99",
          path,
          value: last?.heartbeatLagP99Ms ?? null,
          unit: "ms",
          better: "lower",
          note: `at ${last?.agents ?? 0} agents`,
        },
      );
    });
  }

  if (want("wsservers")) {
    await guarded("wsservers", async () => {
      log(`WebSocket server candidates, ${cfg.bulk / MiB} MiB each way …`);
      const ws = await measureWsServers(cfg.bulk);
      for (
        const [path, v] of [
          ["(A) native front: own framing on a Deno connection (in use)", ws.native],
          ["(B) Deno.serve + Deno.upgradeWebSocket (cannot pause reading)", ws.denoServe],
          ["node:http + ws (before)", ws.nodeWs],
        ] as const
      ) {
        for (const [dir, g] of [["client → server", v.up], ["server → client", v.down]] as const) {
          rows.push({
            figure: `WebSocket server candidate, in-process, ${dir}`,
            path,
            value: g,
            unit: "Gbit/s",
            better: "higher",
          });
        }
        rows.push({
          figure: "WebSocket server candidate, in-process, CPU per GB",
          path,
          value: v.cpuSecPerGB,
          unit: "CPU s/GB",
          better: "lower",
          note: "client + server in one process; the client is the same for all",
        });
      }
    });
  }

  if (want("slowlink")) {
    await guarded("slowlink", async () => {
      // Not in --quick: it starts a world of its own in a network namespace (about 2 minutes).
      if (quick) skipped.push("slow link: not run with --quick");
      else {
        const rate = "50mbit";
        const k = 3;
        log(`interactive round trips over a ${rate} link under ${k} + ${k} bulk streams …`);
        const r = await measureSlowLink(rate, k, 150);
        if ("unavailable" in r) skipped.push(`slow link: not available: ${r.unavailable}`);
        else {
          for (const p of r) {
            for (
              const [figure, v] of [
                [`interactive round trip p50 over a ${rate} link, no bulk`, p.quiet.p50],
                [`interactive round trip p99 over a ${rate} link, no bulk`, p.quiet.p99],
                [
                  `interactive round trip p50 over a ${rate} link, ${k} up + ${k} down bulk on it`,
                  p.loaded.p50,
                ],
                [
                  `interactive round trip p99 over a ${rate} link, ${k} up + ${k} down bulk on it`,
                  p.loaded.p99,
                ],
              ] as const
            ) rows.push({ figure, path: p.path, value: v, unit: "ms", better: "lower" });
          }
        }
      }
    });
  }

  if (want("dataplanes")) {
    await guarded("dataplanes", async () => {
      log(`data planes, ${cfg.bulk / MiB} MiB one way …`);
      const dp = await measureDataPlanes(cfg.bulk);
      for (
        const [path, v] of [
          ["gRPC bidi stream, mTLS", dp.grpcMtls],
          ["node:tls mTLS connection", dp.tlsMtls],
          ["Deno TLS connection (in use)", dp.denoTls],
        ] as const
      ) {
        rows.push({
          figure: "data plane candidate, in-process, one way",
          path,
          value: v,
          unit: "Gbit/s",
          better: "higher",
        });
      }
    });
  }
}

/**
 * VmRSS of a bare `deno` process that idles (what the runtime costs before any product code),
 * started the way the bench starts the agent (tests/_fixtures/stack.ts `Proc`): `deno run -A`
 * from the same directory.
 */
async function bareRuntimeRss(): Promise<{ total: number; anon: number; file: number } | null> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./bare_runtime.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = child.stdout.getReader();
    await reader.read();
    await settle(2000);
    return { total: rssKiB(child.pid), ...rssSplitKiB(child.pid) };
  } catch {
    return null;
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

const cam = await startCamera();
if ("unavailable" in cam) skipped.push(`RTSP: not available: ${cam.unavailable}`);
const camera = "unavailable" in cam ? null : cam;
// The RTSP section's camera: 2 Mbit/s, started only for that section (idle until a client comes).
const cam2m = camera && want("rtsp") ? await startCamera(CAMERA_2M_ARGS) : null;
if (cam2m && "unavailable" in cam2m) skipped.push(`RTSP: not available: ${cam2m.unavailable}`);
const camera2m: RtspCamera = {
  camera: cam2m && !("unavailable" in cam2m) ? cam2m : null,
  went: null,
};
// Twice a whole run lost the RTSP section to a 2 Mbit/s camera that had gone while it idled:
// watched, so the run says during which section it went and how.
const cameraWatch = camera2m.camera &&
  setInterval(() => {
    const gone = camera2m.camera?.gone();
    if (!gone) return;
    camera2m.went = `it had gone ${where}: ${gone}`;
    log(`the 2 Mbit/s camera (rtsp_server.py): ${camera2m.went}`);
    clearInterval(cameraWatch!);
  }, 2000);
if (cameraWatch) Deno.unrefTimer(cameraWatch);
log("starting targets, cloud, agent, CLI tunnel, sshd + ssh -R …");
const world = await startWorld({
  ...(camera ? { rtsp: camera.port } : {}),
  ...(camera2m.camera ? { rtsp2m: camera2m.camera.port } : {}),
});
try {
  // The agent gives its startup garbage back once it has been quiet for a while (idle_trim.ts),
  // and after a longer quiet the pages of its executable (page_out.ts; it runs on an executable
  // of its own, as on a site PC: world.ts). Measured after each step; the second is how an idle
  // agent stays for most of its life.
  await settle(quick ? 1000 : 2 * IDLE_TRIM_QUIET_MS + 2000);
  const collected = rssKiB(world.agentPid);
  const collectedSplit = rssSplitKiB(world.agentPid);
  if (!quick) {
    log("waiting for the agent's idle page-out …");
    await settle(IDLE_PAGE_OUT_QUIET_MS + 2 * IDLE_TRIM_QUIET_MS);
  }
  rows.push(
    {
      figure: "site-side process idle RSS",
      path: "connector agent, before its page-out",
      value: collected,
      unit: "KiB",
      better: "lower",
      note:
        `after the idle collection (${collectedSplit.anon} KiB own, ${collectedSplit.file} KiB executable pages)`,
    },
    {
      figure: "site-side process idle RSS",
      path: "ssh -R",
      value: rssKiB(world.paths[1].procs!.pids()[1]),
      unit: "KiB",
      better: "lower",
      note: "the ssh client",
    },
    {
      figure: "site-side process idle RSS",
      path: "connector agent",
      value: rssKiB(world.agentPid),
      unit: "KiB",
      better: "lower",
      note: quick
        ? "no tunnel open (quick: before its page-out)"
        : "no tunnel open, pages given back",
    },
  );
  // What the runtime alone costs: a bare deno process that idles, against the agent.
  const runtime = await bareRuntimeRss();
  if (runtime !== null) {
    rows.push(
      {
        figure: "site-side process idle RSS",
        path: "bare deno runtime",
        value: runtime.total,
        unit: "KiB",
        better: "lower",
        note: "deno run -A, a timer, nothing else",
      },
      {
        figure: "site-side process idle RSS",
        path: "connector agent minus runtime",
        value: collected - runtime.total,
        unit: "KiB",
        better: "lower",
        note: "the product's own share (before its page-out: the bare runtime keeps its pages)",
      },
    );
  }
  // Of that RSS, what is the process's own (anonymous) and what is pages of the deno executable
  // it touched (file-backed: shared with other deno processes, dropped under memory pressure).
  const agentSplit = rssSplitKiB(world.agentPid);
  const sshSplit = rssSplitKiB(world.paths[1].procs!.pids()[1]);
  for (
    const [path, split] of [
      ["ssh -R", sshSplit],
      ["connector agent", agentSplit],
      ...(runtime ? [["bare deno runtime", runtime]] as const : []),
    ] as const
  ) {
    rows.push(
      {
        figure: "site-side process idle RSS, private (anonymous)",
        path,
        value: split.anon,
        unit: "KiB",
        better: "lower",
      },
      {
        figure: "site-side process idle RSS, file-backed (executable pages)",
        path,
        value: split.file,
        unit: "KiB",
        better: "lower",
        note: "shared with other processes of the same executable; reclaimable",
      },
    );
  }
  // What the page-out costs: the first tunnel after it reads the pages it needs again.
  const wsPath = world.paths.find((p) => p.name === "WebSocket tunnel");
  if (!quick && wsPath) {
    rows.push({
      figure: "open + first byte, the first after the agent's idle page-out",
      path: "WebSocket tunnel",
      value: (await firstByte(wsPath.open.echo, 1)).p50,
      unit: "ms",
      better: "lower",
      note: "one open; compare open + first byte p50",
    });
  }
  if (want("bulk")) await guarded("bulk", () => bulkSection(world));
  if (want("latency")) await guarded("latency", () => latencySection(world.paths));
  if (want("wanopen")) await guarded("wanopen", () => wanOpenSection(world));
  if (want("wanbulk")) await guarded("wanbulk", () => wanBulkSection(world));
  if (want("interactive")) await guarded("interactive", () => interactiveSection(world.paths));
  if (want("http")) await guarded("http", () => httpSection(world));
  if (want("rtsp")) await guarded("rtsp", () => rtspSection(world, camera2m));
  if (want("live")) await guarded("live", () => liveSection(world, camera));
  if (want("idle")) await guarded("idle", () => idleSection(world));
} finally {
  if (cameraWatch) clearInterval(cameraWatch);
  await world.stop();
  await camera?.close();
  await camera2m.camera?.close();
}
await sectionsInWorldsOfTheirOwn();

const final = withRatios(rows);
const cpuModel = /model name\s*:\s*(.+)/.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? "?";
const machine = `${navigator.hardwareConcurrency} cores, ${cpuModel}, Deno ${Deno.version.deno}`;
console.log(`\n${quick ? "quick run" : "full run"}, ${new Date().toISOString()}, ${machine}\n`);
console.log(markdown(final));
for (const s of skipped) console.log(`\n${s}`);
// Issue 13's targets, judged from this run's rows (bench/goals.ts).
const goals = verdicts(final);
console.log(
  `\nIssue 13's targets in this run${quick ? " (quick: tiny sizes, nothing is meant)" : ""}:\n`,
);
console.log(verdictTable(goals));
await Deno.mkdir(out.slice(0, out.lastIndexOf("/")) || ".", { recursive: true });
await Deno.writeTextFile(
  out,
  JSON.stringify(
    {
      at: new Date().toISOString(),
      quick,
      machine,
      openFilesLimit: fd.limit,
      rows: final,
      goals,
      skipped,
    },
    null,
    2,
  ) + "\n",
);
