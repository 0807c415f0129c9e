/**
 * Repeated, interleaved samples of the figures that move most from one run to the next. On a
 * shared 2-core machine one 256 MiB transfer through the same path moves by a third from one try
 * to the next (bulk through the WebSocket tunnel 3.2, 4.6 and 3.2 Gbit/s in three tries of one
 * world, `ssh -R` 4.9, 3.7 and 4.5), so one sample per path made a ratio to `ssh -R` anything from
 * 0.6 to 1.2 ×. Here every path is measured once per round, the paths in the same order each
 * round, so a drift of the machine's load falls on all of them alike; each figure is the median of
 * its rounds, and its row says the range.
 * @module
 */

/** The middle of repeated samples of one figure, and their range. */
export interface Summary {
  /** The median (the mean of the two middle samples when their count is even). */
  median: number;
  min: number;
  max: number;
  /** The samples, in the order of their rounds. */
  samples: number[];
}

/** The median and range of `samples` (at least one, all finite). */
export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new RangeError("summarize: no samples");
  if (!samples.every(Number.isFinite)) throw new RangeError(`summarize: ${samples.join(", ")}`);
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], samples: [...samples] };
}

/** A row's note for a figure summarized over rounds, e.g. "median of 3 rounds (2.41–3.12)". */
export function roundsNote(s: Summary, digits = 2): string {
  if (s.samples.length === 1) return "";
  const f = (
    v: number,
  ) => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString("en-US") : v.toFixed(digits));
  return `median of ${s.samples.length} rounds (${f(s.min)}–${f(s.max)})`;
}

/**
 * Runs `measure` for every one of `items` once per round, `rounds` times, the items in the same
 * order each round; resolves to each item's results in the order of their rounds. A failure
 * stops the whole (the caller's section reports it).
 */
export async function interleaved<I, T>(
  rounds: number,
  items: readonly I[],
  measure: (item: I, round: number) => Promise<T>,
): Promise<Map<I, T[]>> {
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`rounds: ${rounds}`);
  const out = new Map<I, T[]>(items.map((i) => [i, []]));
  for (let round = 0; round < rounds; round++) {
    for (const item of items) out.get(item)!.push(await measure(item, round));
  }
  return out;
}
