// Issue 13's targets judged from a run's rows (bench/goals.ts): each target met, not met or not
// measured, from the figures of the eleventh whole run (2026-12-07, AMD EPYC VM) and variations.
import { assertEquals } from "../../_fixtures/assert.ts";
import { verdicts, verdictTable } from "../../../bench/goals.ts";
import { type Row, withRatios } from "../../../bench/report.ts";

function row(figure: string, path: string, value: number | null): Row {
  return { figure, path, value, unit: "", better: "higher" };
}

/** The rows every target reads, as the eleventh run measured them. */
function eleventhRun(): Row[] {
  const bulk = (path: string, up: number, down: number, cpu: number | null) => [
    row("bulk upload (1 stream)", path, up),
    row("bulk download (1 stream)", path, down),
    ...(cpu === null ? [] : [row("CPU per GB moved (bulk)", path, cpu)]),
  ];
  const open = (path: string, p50: number, p99: number) => [
    row("open + first byte p50 (×1000)", path, p50),
    row("open + first byte p99 (×1000)", path, p99),
  ];
  const keys = "interactive round trip p99, bulk both ways on the same connection";
  const rtsp = "RTSP ×100 concurrent streams at 2 Mbit/s";
  return [
    ...bulk("direct", 24.46, 16.95, null),
    ...bulk("ssh -R", 3.97, 3.39, 3.26),
    ...bulk("CLI tunnel", 2.42, 3.39, 3.91),
    ...bulk("WebSocket tunnel", 2.58, 3.55, 2.79),
    row("small HTTP GETs (wrk, 64 conns)", "ssh -R", 16_838),
    row("small HTTP GETs (wrk, 64 conns)", "browser proxy /c/{h}/", 11_265),
    ...open("ssh -R", 43.5, 87.7),
    ...open("CLI tunnel", 1.98, 9.57),
    ...open("WebSocket tunnel", 1.3, 3.46),
    row(keys, "CLI tunnel", 13.2),
    row(keys, "WebSocket tunnel", 14.9),
    row("idle tunnels ×10000: RSS per tunnel, cloud", "WebSocket tunnel", 13.46),
    row("idle tunnels ×10000: RSS per tunnel, agent", "WebSocket tunnel", 11.25),
    row("site-side process idle RSS", "connector agent", 46_688),
    row(`${rtsp}: decode errors`, "RTSP gateway :9554", 0),
    row(`${rtsp}: received per stream (median)`, "RTSP gateway :9554", 2.01),
    row(`${rtsp}: cloud CPU (process tree)`, "RTSP gateway :9554", 0.16),
  ];
}

Deno.test("the eleventh run's targets, met and not met, with what it measured", () => {
  const v = verdicts(withRatios(eleventhRun()));
  assertEquals(v.map((x) => [x.status, x.measured]), [
    ["not met", "up 0.61 ×, down 1.00 ×"],
    ["not met", "up 0.65 ×, down 1.05 ×"],
    ["not met", "0.67 ×"],
    ["met", "CLI p50 1.98 ms, CLI p99 9.57 ms, WebSocket p50 1.30 ms, WebSocket p99 3.46 ms"],
    ["met", "CLI 13.20 ms, WebSocket 14.90 ms"],
    ["met", "cloud 13.5 KiB, agent 11.3 KiB"],
    ["not met", "CLI 1.20 ×, WebSocket 0.86 ×"],
    ["met", "45.6 MiB"],
    ["met", "decode errors 0, per stream 2.01 Mbit/s, cloud 0.16 core"],
  ]);
  const table = verdictTable(v);
  assertEquals(table.split("\n").length, 2 + 9);
  assertEquals(
    table.split("\n")[2],
    "| bulk through the CLI tunnel ≥ 1.5 × `ssh -R`, up and down | up 0.61 ×, down 1.00 × | not met |",
  );
});

Deno.test("a missing row is not measured; a part measured short is still not met", () => {
  const rows = eleventhRun().filter((r) =>
    !/^idle tunnels ×10000: RSS per tunnel, agent$/.test(r.figure) && // the idle section failed
    !(r.path === "CLI tunnel" && /^open \+ first byte p99/.test(r.figure))
  );
  // One decode error in the gateway's streams; the `ssh -R` bulk figures lost.
  const rtsp = rows.find((r) => /decode errors$/.test(r.figure))!;
  rtsp.value = 1;
  const v = verdicts(
    withRatios(rows.filter((r) => !(r.path === "ssh -R" && /^bulk/.test(r.figure)))),
  );
  assertEquals(v[0], {
    target: "bulk through the CLI tunnel ≥ 1.5 × `ssh -R`, up and down",
    measured: "up –, down –",
    status: "not measured",
  });
  assertEquals(v[3].status, "not measured");
  assertEquals(
    v[3].measured,
    "CLI p50 1.98 ms, CLI p99 –, WebSocket p50 1.30 ms, WebSocket p99 3.46 ms",
  );
  assertEquals([v[5].status, v[5].measured], ["not measured", "cloud 13.5 KiB, agent –"]);
  assertEquals(v[8].status, "not met");
  // A row present but without a value (a section that said why) is not measured either.
  const empty = eleventhRun().map((r) =>
    r.figure === "site-side process idle RSS" ? { ...r, value: null } : r
  );
  assertEquals(verdicts(withRatios(empty))[7].status, "not measured");
  // 10 000 idle tunnels only: a quick run's 50 are not the target's count.
  const quick = eleventhRun().map((r) => ({ ...r, figure: r.figure.replace("×10000", "×50") }));
  assertEquals(verdicts(withRatios(quick))[5].status, "not measured");
});
