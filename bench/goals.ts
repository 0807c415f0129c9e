/**
 * Issue 13's targets, judged from a run's own rows: after its table of figures the bench prints
 * each target with what this run measured for it and whether that meets it. The README's status
 * table was written by hand from the figures, target by target, after every whole run; the
 * bench now says it itself, from the same rows the JSON keeps, so a run on a new machine reads
 * met or not met at once and the README copies a verdict instead of working one out.
 * @module
 */
import type { Row } from "./report.ts";

/** One target and how this run did against it. */
export interface Verdict {
  /** The target as the issue words it. */
  target: string;
  /** What the run measured for it, e.g. "up 0.61 ×, down 1.00 ×". */
  measured: string;
  /**
   * "not met" when any part measured falls short; else "not measured" when a row it needs is
   * missing (a section not run, or one that failed).
   */
  status: "met" | "not met" | "not measured";
}

type Find = (figure: RegExp, path: string) => Row | undefined;

/** One target: the rows it reads and the test each must pass, with how to show its value. */
interface Goal {
  target: string;
  parts: {
    label: string;
    figure: RegExp;
    path: string;
    /** The value judged: the row's own value, or its ratio to `ssh -R`. */
    of: "value" | "vsSsh";
    ok: (v: number) => boolean;
    show: (v: number) => string;
  }[];
}

const times = (v: number) => `${v.toFixed(2)} ×`;
const ms = (v: number) => `${v.toFixed(2)} ms`;
const kib = (v: number) => `${v.toFixed(1)} KiB`;
const atLeast = (x: number) => (v: number) => v >= x;
const atMost = (x: number) => (v: number) => v <= x;
const BOTH_TUNNELS = [["CLI", "CLI tunnel"], ["WebSocket", "WebSocket tunnel"]] as const;

/** Bulk one stream each way through `path` at least `ratio` × `ssh -R`. */
function bulkGoal(target: string, path: string, ratio: number): Goal {
  return {
    target,
    parts: [["up", "upload"], ["down", "download"]].map(([label, way]) => ({
      label,
      figure: new RegExp(`^bulk ${way} \\(1 stream\\)$`),
      path,
      of: "vsSsh" as const,
      ok: atLeast(ratio),
      show: times,
    })),
  };
}

const GOALS: Goal[] = [
  bulkGoal("bulk through the CLI tunnel ≥ 1.5 × `ssh -R`, up and down", "CLI tunnel", 1.5),
  bulkGoal("bulk through the WebSocket tunnel ≥ 1.0 ×, up and down", "WebSocket tunnel", 1.0),
  {
    target: "small GETs through `/c/{h}/` (wrk, 64 connections) ≥ 1.5 ×",
    parts: [{
      label: "",
      figure: /^small HTTP GETs/,
      path: "browser proxy /c/{h}/",
      of: "vsSsh",
      ok: atLeast(1.5),
      show: times,
    }],
  },
  {
    target: "open + first byte ≤ 2 ms p50 and ≤ 10 ms p99, both tunnels",
    parts: BOTH_TUNNELS.flatMap(([label, path]) =>
      ([["p50", 2], ["p99", 10]] as const).map(([q, most]) => ({
        label: `${label} ${q}`,
        figure: new RegExp(`^open \\+ first byte ${q} \\(×\\d+\\)$`),
        path,
        of: "value" as const,
        ok: atMost(most),
        show: ms,
      }))
    ),
  },
  {
    target: "interactive round trip p99 ≤ 20 ms with bulk both ways on the connection",
    parts: BOTH_TUNNELS.map(([label, path]) => ({
      label,
      figure: /^interactive round trip p99, bulk both ways on the same connection$/,
      path,
      of: "value" as const,
      ok: atMost(20),
      show: ms,
    })),
  },
  {
    target: "RSS per idle tunnel at 10 000 tunnels ≤ 16 KiB on each end",
    parts: ["cloud", "agent"].map((end) => ({
      label: end,
      figure: new RegExp(`^idle tunnels ×10000: RSS per tunnel, ${end}$`),
      path: "WebSocket tunnel",
      of: "value" as const,
      ok: atMost(16),
      show: kib,
    })),
  },
  {
    target: "CPU per GB moved, whole chain ≤ 0.6 × `ssh -R`",
    parts: BOTH_TUNNELS.map(([label, path]) => ({
      label,
      figure: /^CPU per GB moved \(bulk\)$/,
      path,
      of: "vsSsh" as const,
      ok: atMost(0.6),
      show: times,
    })),
  },
  {
    target: "agent idle RSS ≤ 60 MiB",
    parts: [{
      label: "",
      figure: /^site-side process idle RSS$/,
      path: "connector agent",
      of: "value",
      ok: atMost(60 * 1024),
      show: (v) => `${(v / 1024).toFixed(1)} MiB`,
    }],
  },
  {
    target: "100 RTSP streams at 2 Mbit/s through `:9554`: 0 decode errors, ≤ 1 cloud core",
    parts: [
      {
        label: "decode errors",
        figure: /^RTSP ×100 concurrent streams at 2 Mbit\/s: decode errors$/,
        path: "RTSP gateway :9554",
        of: "value",
        ok: (v) => v === 0,
        show: (v) => String(v),
      },
      {
        label: "per stream",
        figure: /^RTSP ×100 concurrent streams at 2 Mbit\/s: received per stream \(median\)$/,
        path: "RTSP gateway :9554",
        of: "value",
        ok: atLeast(1.9),
        show: (v) => `${v.toFixed(2)} Mbit/s`,
      },
      {
        label: "cloud",
        figure: /^RTSP ×100 concurrent streams at 2 Mbit\/s: cloud CPU \(process tree\)$/,
        path: "RTSP gateway :9554",
        of: "value",
        ok: atMost(1),
        show: (v) => `${v.toFixed(2)} core`,
      },
    ],
  },
];

/** Each of issue 13's targets judged from `rows` (with their ratios filled: `withRatios`). */
export function verdicts(rows: Row[]): Verdict[] {
  const find: Find = (figure, path) => rows.find((r) => figure.test(r.figure) && r.path === path);
  return GOALS.map((g) => {
    const shown: string[] = [];
    let missing = false;
    let failed = false;
    for (const p of g.parts) {
      const row = find(p.figure, p.path);
      const v = row ? (p.of === "value" ? row.value : row.vsSsh) : null;
      const label = p.label ? `${p.label} ` : "";
      if (v === null || v === undefined || !Number.isFinite(v)) {
        shown.push(`${label}–`);
        missing = true;
      } else {
        shown.push(`${label}${p.show(v)}`);
        if (!p.ok(v)) failed = true;
      }
    }
    // A part measured and short is an answer even when another part is missing.
    const status = failed ? "not met" : missing ? "not measured" : "met";
    return { target: g.target, measured: shown.join(", "), status };
  });
}

/** The verdicts as a markdown table. */
export function verdictTable(vs: Verdict[]): string {
  return [
    "| target (issue 13) | this run | status |",
    "| --- | --- | --- |",
    ...vs.map((v) => `| ${v.target} | ${v.measured} | ${v.status} |`),
  ].join("\n");
}
