/**
 * What an idle WebSocket tunnel costs the cloud, and what the runtime itself costs per idle
 * connection (the floor no product change can go under). `deno run -A bench/idle.ts [n...]`
 * (default 1000 10000; flags after the counts, e.g. `--tunnel-idle-timeout 30m`, go to the cloud)
 * runs just this; the bench's `idle` section prints the same figures.
 *
 * - The floor: a bare `deno` process that accepts TCP connections and keeps one pending 512-byte
 *   `read()` on each (what an idle native WebSocket does), with nothing else per connection.
 * - The cloud: the real cloud and agent (tests/_fixtures/stack.ts), an echo target in its own
 *   process, `n` tunnels opened through `/api/tunnel/{h}` with the product's native client and
 *   left idle. Per tunnel: VmRSS from /proc and, from the cloud's `/metrics`, the JavaScript heap
 *   in use and the memory of buffers outside it.
 * @module
 */
import { Stack } from "../tests/_fixtures/stack.ts";
import { raiseFileLimit, rssKiB } from "./procfs.ts";
import { wsStream } from "./streams.ts";
import { openIdle } from "./workloads.ts";
import type { Stream } from "./streams.ts";

/** RSS per connection of a bare deno process at each count, or null when it could not run. */
export interface IdleFigures {
  /** Connections (or tunnels) open at this step. */
  n: number;
  /** VmRSS growth per connection since none were open, KiB. */
  rssKiB: number;
  /** JS heap in use, growth per connection, KiB (cloud only). */
  heapKiB?: number;
  /** External (ArrayBuffer) memory, growth per connection, KiB (cloud only). */
  externalKiB?: number;
}

const FLOOR_SCRIPT = `
const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
console.log(l.addr.port);
for await (const c of l) {
  (async () => {
    const buf = new Uint8Array(512);
    try { while ((await c.read(buf)) !== null) {} } catch {}
    try { c.close(); } catch {}
  })();
}
`;

async function settle(ms = 2000): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Opens `n` plain TCP connections to `port`, `parallel` at a time. */
async function connectMany(port: number, n: number): Promise<Deno.TcpConn[]> {
  const out: Deno.TcpConn[] = [];
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      out.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return out;
}

/**
 * The runtime's floor: RSS per idle TCP connection of a bare deno process holding one pending
 * 512-byte read on each, at each of `counts` (cumulative).
 */
export async function measureFloor(counts: number[]): Promise<IdleFigures[]> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", FLOOR_SCRIPT],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const held: Deno.TcpConn[] = [];
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const port = Number((await reader.read()).value);
    reader.cancel().catch(() => {});
    await settle();
    const base = rssKiB(child.pid);
    const out: IdleFigures[] = [];
    for (const n of counts) {
      held.push(...await connectMany(port, n - held.length));
      await settle();
      out.push({ n, rssKiB: (rssKiB(child.pid) - base) / n });
    }
    return out;
  } finally {
    for (const c of held) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    child.kill("SIGKILL");
    await child.status;
  }
}

/** One unlabelled sample of `name` from the `/metrics` at `url`, or null when it has none. */
export async function metricValue(url: string, name: string): Promise<number | null> {
  try {
    const text = await (await fetch(url)).text();
    const v = new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1];
    return v === undefined ? null : Number(v);
  } catch {
    return null;
  }
}

/** The memory gauges of a cloud's /metrics, in bytes. */
export async function memoryGauges(
  url: string,
): Promise<{ heap: number; external: number } | null> {
  try {
    const text = await (await fetch(url)).text();
    const g = (name: string) => Number(new RegExp(`^${name} (\\S+)`, "m").exec(text)?.[1] ?? NaN);
    return { heap: g("process_heap_used_bytes"), external: g("process_external_memory_bytes") };
  } catch {
    return null;
  }
}

/**
 * Opens idle WebSocket tunnels `opener` in steps (`counts`, cumulative) and reads, after each,
 * what the cloud (`pid`, `/metrics` at `metricsUrl` when given) grew by per tunnel.
 */
export async function measureCloudIdle(
  opener: () => Promise<Stream>,
  pid: number,
  counts: number[],
  metricsUrl: string | null,
): Promise<{ figures: IdleFigures[]; error: string | null; close(): void }> {
  const held: Stream[] = [];
  await settle();
  const base = rssKiB(pid);
  const baseGauges = metricsUrl ? await memoryGauges(metricsUrl) : null;
  const figures: IdleFigures[] = [];
  let error: string | null = null;
  for (const n of counts) {
    const r = await openIdle(opener, n - held.length);
    held.push(...r.opened);
    error = r.error;
    await settle();
    const k = held.length;
    const g = metricsUrl ? await memoryGauges(metricsUrl) : null;
    figures.push({
      n: k,
      rssKiB: (rssKiB(pid) - base) / k,
      ...(g && baseGauges
        ? {
          heapKiB: (g.heap - baseGauges.heap) / 1024 / k,
          externalKiB: (g.external - baseGauges.external) / 1024 / k,
        }
        : {}),
    });
    if (error) break;
  }
  return { figures, error, close: () => held.forEach((s) => s.close()) };
}

if (import.meta.main) {
  // Numbers are the counts; flags (e.g. `--tunnel-idle-timeout 30m`) go to the cloud.
  const flagAt = Deno.args.findIndex((a) => a.startsWith("--"));
  const numbers = flagAt < 0 ? Deno.args : Deno.args.slice(0, flagAt);
  const cloudFlags = flagAt < 0 ? [] : Deno.args.slice(flagAt);
  const counts = numbers.length ? numbers.map(Number) : [1000, 10000];
  const fd = await raiseFileLimit(Math.max(...counts) * 2 + 2000);
  if (fd.note) console.error(`open files limit: ${fd.note}`);
  for (const f of Deno.env.get("NO_FLOOR") ? [] : await measureFloor(counts)) {
    console.log(
      `floor (bare deno, one pending 512-byte read): ${f.n} conns: ${
        f.rssKiB.toFixed(2)
      } KiB RSS per conn`,
    );
  }
  const targets = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./targets.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = targets.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const ports = JSON.parse((await reader.read()).value ?? "{}");
  reader.cancel().catch(() => {});
  const stack = await Stack.start({ cloudArgs: ["--metrics", "127.0.0.1:0", ...cloudFlags] });
  try {
    const q = await stack.quickstart([ports.echo], "Idle");
    await stack.agentFor(q);
    const h = q.device.handles[ports.echo];
    const url = `ws://127.0.0.1:${stack.ports.http}/api/tunnel/${h}`;
    const metrics = stack.ports.metrics ? `http://127.0.0.1:${stack.ports.metrics}/metrics` : null;
    const r = await measureCloudIdle(
      () => wsStream(url, q.apiToken),
      stack.cloud.child.pid,
      counts,
      metrics,
    );
    for (const f of r.figures) {
      console.log(
        `cloud: ${f.n} idle tunnels: ${f.rssKiB.toFixed(2)} KiB RSS per tunnel` +
          (f.heapKiB !== undefined
            ? ` (JS heap ${f.heapKiB.toFixed(2)}, external ${f.externalKiB!.toFixed(2)})`
            : ""),
      );
    }
    if (r.error) console.log(`stopped early: ${r.error}`);
    r.close();
  } finally {
    await stack.stop();
    targets.kill("SIGKILL");
    await targets.status;
  }
}
