/**
 * The bench's results: one row per (figure, path), each with its ratio to the same figure
 * through `ssh -R` and through the direct path, printed as a markdown table and written as JSON.
 * @module
 */

/** One measured figure on one path. */
export interface Row {
  /** What was measured, e.g. "bulk upload". */
  figure: string;
  path: string;
  value: number | null;
  unit: string;
  /** Whether a larger value is better (Gbit/s, req/s) or a smaller one (ms, KiB, CPU s). */
  better: "higher" | "lower";
  /** Counted outcomes, limits, why a value is missing. */
  note?: string;
  /** When `value` is the median of rounds (rounds.ts): each round's value, in order. */
  samples?: number[];
  /** value ÷ the same figure through ssh -R / direct (filled by `withRatios`). */
  vsSsh?: number | null;
  vsDirect?: number | null;
}

/** Fills each row's ratios from the rows of the same figure. */
export function withRatios(rows: Row[]): Row[] {
  const find = (figure: string, path: string) =>
    rows.find((r) => r.figure === figure && r.path === path)?.value ?? null;
  const ratio = (v: number | null, base: number | null) =>
    v === null || base === null || base === 0 ? null : v / base;
  return rows.map((r) => ({
    ...r,
    vsSsh: ratio(r.value, find(r.figure, "ssh -R")),
    vsDirect: ratio(r.value, find(r.figure, "direct")),
  }));
}

function fmt(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(v !== 0 && Math.abs(v) < 0.1 ? 3 : digits);
}

/** The rows as a markdown table. */
export function markdown(rows: Row[]): string {
  const lines = [
    "| figure | path | value | unit | × ssh -R | × direct | note |",
    "| --- | --- | ---: | --- | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const unit = `${r.unit}${r.better === "lower" ? " ↓" : ""}`;
    lines.push(
      `| ${r.figure} | ${r.path} | ${fmt(r.value)} | ${unit} | ${fmt(r.vsSsh)} | ${
        fmt(r.vsDirect)
      } | ${r.note ?? ""} |`,
    );
  }
  return lines.join("\n");
}
