/**
 * What the bench reads from /proc about the processes it started: resident memory (VmRSS),
 * CPU time (utime + stime) and the process tree (sshd forks a process per connection, so its
 * figures are the sum over its descendants). Linux only, like the bench.
 * @module
 */

const TICKS_PER_SECOND = 100; // USER_HZ; 100 on every Linux this runs on

/** Resident set size of `pid` in KiB (0 when the process is gone). */
export function rssKiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * A process's resident memory split as the kernel counts it: `anon` is its own (heap, stacks,
 * JIT code), `file` the pages of mapped files it touched — for a deno process mostly the deno
 * executable's code and snapshot, shared with every other deno process and dropped by the kernel
 * under memory pressure without being written anywhere. KiB; zeros when the process is gone.
 */
export function rssSplitKiB(pid: number): { anon: number; file: number } {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { anon: field("RssAnon"), file: field("RssFile") + field("RssShmem") };
  } catch {
    return { anon: 0, file: 0 };
  }
}

/** user + system CPU seconds `pid` has used so far (0 when gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** `pid` and all its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(e.name));
      children.set(ppid, list);
    } catch { /* gone */ }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

/** A set of processes whose memory and CPU are read together. */
export class ProcGroup {
  /** Names this group in the table (e.g. "cloud + agent"). */
  readonly label: string;
  #roots: number[];
  #tree: boolean;

  /** What each root is ("cloud", "agent", …), for the per-process CPU rows. */
  readonly names: string[];

  /**
   * `tree`: include every descendant of `roots` (read afresh each time). `names`: one per root
   * (default: none, and no per-process rows).
   */
  constructor(label: string, roots: number[], tree = false, names: string[] = []) {
    this.label = label;
    this.#roots = roots;
    this.#tree = tree;
    this.names = names;
  }

  /** CPU seconds of each root (with its descendants when `tree`), in the order of `roots`. */
  cpuByRoot(): number[] {
    return this.#roots.map((r) =>
      (this.#tree ? processTree(r) : [r]).reduce((s, p) => s + cpuSeconds(p), 0)
    );
  }

  /** The pids counted right now. */
  pids(): number[] {
    return this.#tree ? this.#roots.flatMap(processTree) : this.#roots;
  }

  /** Summed VmRSS in KiB. */
  rssKiB(): number {
    return this.pids().reduce((s, p) => s + rssKiB(p), 0);
  }

  /** Summed CPU seconds. Descendants that exited in between are not counted. */
  cpuSeconds(): number {
    return this.pids().reduce((s, p) => s + cpuSeconds(p), 0);
  }
}

/**
 * Raises this process's open-file limit (children inherit it). Returns the limit in force and,
 * when it could not be raised as asked, why.
 */
export async function raiseFileLimit(want: number): Promise<{ limit: number; note?: string }> {
  const current = () =>
    Number(
      /Max open files\s+(\d+)/.exec(Deno.readTextFileSync(`/proc/${Deno.pid}/limits`))?.[1] ?? 0,
    );
  if (current() >= want) return { limit: current() };
  const out = await new Deno.Command("prlimit", {
    args: ["--pid", String(Deno.pid), `--nofile=${want}:${want}`],
    stdout: "null",
    stderr: "piped",
  }).output().catch((e) => ({ success: false, stderr: new TextEncoder().encode(String(e)) }));
  const limit = current();
  if (out.success && limit >= want) return { limit };
  const why = new TextDecoder().decode(out.stderr).trim().replace(/^prlimit: /, "");
  return { limit, note: `raising it to ${want} failed (${why}); it stays ${limit}` };
}
