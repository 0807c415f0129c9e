/**
 * The workloads, each written once against `Stream` (or a URL for wrk) so every path does the
 * same work: bulk one way each direction, open + first byte round trips, concurrent idle
 * tunnels, and small HTTP GETs with wrk.
 * @module
 */
import type { Opener, Stream } from "./streams.ts";
import type { ProcGroup } from "./procfs.ts";
import { type LoadTarget, startLoad } from "./load.ts";

const CHUNK = 64 << 10;

/** Throughput one way each direction and the CPU the tunnel processes spent on it. */
export interface BulkResult {
  upGbps: number;
  downGbps: number;
  /** CPU seconds of the tunnel's processes per GB moved (null for the direct path). */
  cpuSecPerGB: number | null;
  /**
   * The same per process of the group (its `names`), when it names them: over both directions,
   * and per GB of each direction alone (a relay's two directions do different work).
   */
  cpuSplit: { name: string; secPerGB: number; upSecPerGB: number; downSecPerGB: number }[];
}

async function drain(s: Stream): Promise<number> {
  let n = 0;
  for (let b; (b = await s.read()) !== null;) n += b.byteLength;
  return n;
}

/** Sends `bytes` to the sink and receives `bytes` from the source of the bulk target. */
export async function bulk(open: Opener, bytes: number, cpu?: ProcGroup): Promise<BulkResult> {
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  const cpu0 = cpu?.cpuSeconds() ?? 0;
  const split0 = cpu?.cpuByRoot() ?? [];
  // Upload: 'U', the bytes, half-close, wait for the sink's one-byte answer.
  let s = await open();
  await s.write(new Uint8Array([0x55]));
  let t0 = performance.now();
  for (let sent = 0; sent < bytes; sent += CHUNK) {
    await s.write(chunk.subarray(0, Math.min(CHUNK, bytes - sent)));
  }
  await s.closeWrite();
  await drain(s);
  const upGbps = (bytes * 8) / ((performance.now() - t0) / 1000) / 1e9;
  s.close();
  const splitMid = cpu?.cpuByRoot() ?? [];
  // Download: 'D' + length, read to the end.
  s = await open();
  const req = new Uint8Array(9);
  req[0] = 0x44;
  new DataView(req.buffer).setBigUint64(1, BigInt(bytes));
  t0 = performance.now();
  await s.write(req);
  const got = await drain(s);
  const downGbps = (got * 8) / ((performance.now() - t0) / 1000) / 1e9;
  s.close();
  if (got !== bytes) throw new Error(`download got ${got} of ${bytes} bytes`);
  const gb = (2 * bytes) / 1e9;
  const cpuSecPerGB = cpu ? (cpu.cpuSeconds() - cpu0) / gb : null;
  const split1 = cpu?.cpuByRoot() ?? [];
  const cpuSplit = (cpu?.names ?? []).map((name, i) => ({
    name,
    secPerGB: (split1[i] - split0[i]) / gb,
    upSecPerGB: (splitMid[i] - split0[i]) / (bytes / 1e9),
    downSecPerGB: (split1[i] - splitMid[i]) / (bytes / 1e9),
  }));
  return { upGbps, downGbps, cpuSecPerGB, cpuSplit };
}

/**
 * p50 and p99 in milliseconds of a short download to its end: open, ask the bulk source for
 * `bytes`, read until the end of stream that follows its close, `n` times in a row. What a
 * one-shot exchange (a request whose answer ends with the connection) waits for.
 */
export async function toEnd(
  open: Opener,
  n: number,
  bytes = 1000,
): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  const req = new Uint8Array(9);
  req[0] = 0x44;
  new DataView(req.buffer).setBigUint64(1, BigInt(bytes));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const s = await open();
    await s.write(req);
    const got = await drain(s);
    times.push(performance.now() - t0);
    s.close();
    if (got !== bytes) throw new Error(`got ${got} of ${bytes} bytes before the end`);
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

/** p50 and p99 in milliseconds of open + one byte there and back, `n` times in a row. */
export async function firstByte(open: Opener, n: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  const one = new Uint8Array([0x2a]);
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const s = await open();
    await s.write(one);
    const b = await s.read();
    times.push(performance.now() - t0);
    s.close();
    if (!b) throw new Error("echo closed before the first byte");
  }
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * Opens `n` tunnels (each proven with one echoed byte, within `timeoutMs`), `parallel` at a
 * time, and keeps them open. Returns how many opened, the first failure if fewer, and a function that closes them.
 */
export async function openIdle(
  open: Opener,
  n: number,
  parallel = 64,
  timeoutMs = 20_000,
): Promise<{ opened: Stream[]; error: string | null }> {
  const opened: Stream[] = [];
  let error: string | null = null;
  let next = 0;
  const one = new Uint8Array([0x2a]);
  const worker = async () => {
    while (next < n && !error) {
      next++;
      let s: Stream | null = null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        const attempt = (async () => {
          s = await open();
          await s.write(one);
          if (!(await s.read())) throw new Error("closed before the first byte");
          return s;
        })();
        const late = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no echo within ${timeoutMs / 1000} s after ${opened.length}`)),
            timeoutMs,
          );
        });
        opened.push(await Promise.race([attempt, late]));
      } catch (e) {
        (s as Stream | null)?.close();
        error ??= (e as Error).message;
      } finally {
        clearTimeout(timer);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return { opened, error };
}

/** Requests per second of `wrk` (64 connections, 2 threads) against `url`. */
export async function wrk(
  url: string,
  seconds: number,
  headers: Record<string, string> = {},
  connections = 64,
): Promise<{ rps: number; errors: string | null }> {
  const args = ["-t2", `-c${connections}`, `-d${seconds}s`];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const out = await new Deno.Command("wrk", { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1];
  const sock = /Socket errors: ([^\n]+)/.exec(text)?.[1];
  const errors = [non2xx ? `${non2xx} non-2xx` : "", sock ? `socket errors: ${sock}` : ""]
    .filter(Boolean).join("; ") || (out.success ? null : new TextDecoder().decode(out.stderr));
  return { rps, errors };
}

/**
 * p50 and p99 in milliseconds of a 64-byte round trip on an echo stream while `bulkStreams`
 * streams upload and as many download through the same path (for the tunnels: the same data
 * connection; for `ssh -R`: the same SSH connection), `n` times in a row; and the same with no
 * bulk first. The bulk runs in a process of its own (`load.ts`), so this process times only the
 * path, not its own work on the bulk.
 */
export async function interactiveUnderBulk(
  load: LoadTarget,
  openEcho: Opener,
  n: number,
  bulkStreams = 1,
): Promise<{ quiet: { p50: number; p99: number }; loaded: { p50: number; p99: number } }> {
  const echo = await openEcho();
  const msg = new Uint8Array(64).fill(0x2a);
  const rounds = async () => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await echo.write(msg);
      for (let got = 0; got < msg.byteLength;) {
        const b = await echo.read();
        if (!b) throw new Error("echo closed during the round trips");
        got += b.byteLength;
      }
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))];
    return { p50: at(0.5), p99: at(0.99) };
  };
  try {
    const quiet = await rounds();
    const bulk = await startLoad({ to: load, streams: bulkStreams });
    try {
      // Bulk in full flow first (64 MiB moved, or 10 s on a slow link).
      await bulk.flowing;
      const loaded = await rounds();
      return { quiet, loaded };
    } finally {
      await bulk.stop();
    }
  } finally {
    echo.close();
  }
}
