/**
 * A small Prometheus registry shared by every role: counters and gauges with labels, rendered in
 * the text exposition format (version 0.0.4) for `/metrics`. Modules declare their metrics on the
 * process-wide `metrics` registry at import time and update them on the hot path with a Map
 * lookup and an addition; gauges that are cheaper to read than to maintain (agents connected,
 * RSS, open fds) are computed at scrape time by a collect callback.
 * @module
 */

/** Label names to values. */
export type Labels = Record<string, string>;

type Kind = "counter" | "gauge";

/** One metric family: a name, help text, and a value per label set. */
export class Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  #values = new Map<string, { labels: Labels; value: number }>();
  #collect: (() => number | Array<{ labels: Labels; value: number }>) | null = null;

  /** Creates a family; use `Registry.counter` / `Registry.gauge`. */
  constructor(name: string, help: string, kind: Kind) {
    this.name = name;
    this.help = help;
    this.kind = kind;
  }

  /** Adds `by` (default 1) to the series of `labels`; counters never go down. */
  inc(labels: Labels = {}, by = 1): void {
    if (this.kind === "counter" && by < 0) throw new Error(`${this.name}: a counter cannot drop`);
    const key = keyOf(labels);
    const v = this.#values.get(key);
    if (v) v.value += by;
    else this.#values.set(key, { labels, value: by });
  }

  /** Subtracts from a gauge. */
  dec(labels: Labels = {}, by = 1): void {
    this.inc(labels, -by);
  }

  /** Sets a gauge's series. */
  set(labels: Labels, value: number): void {
    this.#values.set(keyOf(labels), { labels, value });
  }

  /** The current value of a series (0 when never touched). */
  get(labels: Labels = {}): number {
    return this.#values.get(keyOf(labels))?.value ?? 0;
  }

  /** Computes the value(s) at scrape time instead of keeping them. */
  collect(fn: () => number | Array<{ labels: Labels; value: number }>): this {
    this.#collect = fn;
    return this;
  }

  /** The family in text exposition format. */
  render(): string {
    const lines = [
      `# HELP ${this.name} ${escapeHelp(this.help)}`,
      `# TYPE ${this.name} ${this.kind}`,
    ];
    let series = [...this.#values.values()];
    if (this.#collect) {
      const got = this.#collect();
      series = typeof got === "number" ? [{ labels: {}, value: got }] : got;
    }
    if (!series.length && this.kind === "counter") series = [{ labels: {}, value: 0 }];
    for (const s of series) lines.push(`${this.name}${renderLabels(s.labels)} ${num(s.value)}`);
    return lines.join("\n") + "\n";
  }
}

/** A set of metric families rendered together. */
export class Registry {
  #families = new Map<string, Metric>();

  /** Declares (or returns the already declared) counter `name`. */
  counter(name: string, help: string): Metric {
    return this.#declare(name, help, "counter");
  }

  /** Declares (or returns the already declared) gauge `name`. */
  gauge(name: string, help: string): Metric {
    return this.#declare(name, help, "gauge");
  }

  /** Every family in text exposition format. */
  render(): string {
    return [...this.#families.values()].map((m) => m.render()).join("");
  }

  #declare(name: string, help: string, kind: Kind): Metric {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
    const have = this.#families.get(name);
    if (have) {
      if (have.kind !== kind) throw new Error(`${name} is already a ${have.kind}`);
      return have;
    }
    const m = new Metric(name, help, kind);
    this.#families.set(name, m);
    return m;
  }
}

/** The process-wide registry every role's `/metrics` renders. */
export const metrics = new Registry();

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

metrics.gauge("process_resident_memory_bytes", "Resident set size of this process in bytes")
  .collect(() => Deno.memoryUsage().rss);
// The RSS split, to tell a leak (the live heap grows) from allocator high-water (RSS grows while
// the heap after collection stays flat) in long fuzz and soak runs.
metrics.gauge("process_heap_used_bytes", "JavaScript heap in use (live objects and garbage)")
  .collect(() => Deno.memoryUsage().heapUsed);
metrics.gauge("process_heap_total_bytes", "JavaScript heap reserved by V8")
  .collect(() => Deno.memoryUsage().heapTotal);
metrics.gauge("process_external_memory_bytes", "Memory of buffers outside the JavaScript heap")
  .collect(() => Deno.memoryUsage().external);
metrics.gauge("process_open_fds", "Open file descriptors of this process").collect(openFds);

function openFds(): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  } catch {
    return -1; // not Linux: unknown
  }
}

function keyOf(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join("\u0000");
}

function renderLabels(labels: Labels): string {
  const keys = Object.keys(labels);
  if (!keys.length) return "";
  return `{${keys.map((k) => `${k}="${escapeValue(labels[k])}"`).join(",")}}`;
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}
