/**
 * Gives the pages of the agent's executable back to the system when the agent has been idle a
 * while (Linux). Most of an idle agent's RSS is not its own memory but pages of the executable it
 * touched once — the runtime's TLS, HTTP/2 and Node-compatibility code and its startup snapshot,
 * read while starting and not again until tunnels open (README "Performance": 52 of 80 MiB). The
 * kernel keeps them resident until memory runs short. `madvise(MADV_PAGEOUT)` over the process's
 * private file-backed mappings reclaims them now: they stop counting in RSS and, when nothing else
 * maps them, leave the page cache, so the site PC gets the memory back. Pages are read in again
 * as they are needed: the first tunnel after a page-out waits for those reads (measured in the
 * bench). The process's own memory (anonymous: heap, stacks, JIT code) is left alone. Pages
 * another process maps too are not reclaimed (the kernel skips them), so this frees memory only
 * where the agent's executable is its own, as it is on a site PC.
 * @module
 */
import { openLibc } from "../shared/libc.ts";

/** `MADV_PAGEOUT` (Linux 5.4+). */
const MADV_PAGEOUT = 21;

/** What a page-out did. */
export interface PagedOut {
  /** Mappings advised. */
  mappings: number;
  /** Their size in bytes (mapped, not all resident). */
  bytes: number;
  /** Resident file-backed KiB before and after (`RssFile` of /proc/self/status). */
  fileKiBBefore: number;
  fileKiBAfter: number;
}

/** The private file-backed mappings of `/proc/self/maps` text: start and length. */
export function fileMappings(maps: string): { start: bigint; length: bigint }[] {
  const out: { start: bigint; length: bigint }[] = [];
  for (const line of maps.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) \S+ \S+ (\d+)\s+(\/\S.*)$/.exec(line);
    // Private (p) mappings of a real file (inode ≠ 0, not a device), never shared writable ones.
    if (!m || m[3][3] !== "p" || m[4] === "0" || m[5].startsWith("/dev/")) continue;
    const start = BigInt(`0x${m[1]}`);
    out.push({ start, length: BigInt(`0x${m[2]}`) - start });
  }
  return out;
}

function rssFileKiB(): number {
  const s = Deno.readTextFileSync("/proc/self/status");
  return Number(/RssFile:\s+(\d+)/.exec(s)?.[1] ?? 0);
}

/** Pages out this process's file-backed mappings; a reason string where it cannot. */
export function pageOutExecutable(): PagedOut | string {
  if (Deno.build.os !== "linux") return `not on ${Deno.build.os}`;
  let madvise;
  try {
    madvise = openLibc().symbols.madvise;
  } catch (e) {
    return `no libc: ${(e as Error).message}`;
  }
  const fileKiBBefore = rssFileKiB();
  let mappings = 0;
  let bytes = 0;
  let refused = 0;
  for (const m of fileMappings(Deno.readTextFileSync("/proc/self/maps"))) {
    if (madvise(Deno.UnsafePointer.create(m.start), m.length, MADV_PAGEOUT) === 0) {
      mappings++;
      bytes += Number(m.length);
    } else refused++;
  }
  if (mappings === 0 && refused > 0) return "the kernel refused MADV_PAGEOUT (before Linux 5.4)";
  return { mappings, bytes, fileKiBBefore, fileKiBAfter: rssFileKiB() };
}
