/**
 * What the soak samples about a process from /proc: resident memory (VmRSS, via the bench's
 * reader) and the number of open file descriptors. Linux only.
 * @module
 */
export { rssKiB } from "../../bench/procfs.ts";

/** Open file descriptors of `pid` (entries of /proc/PID/fd; 0 when the process is gone). */
export function openFds(pid: number): number {
  try {
    let n = 0;
    for (const _ of Deno.readDirSync(`/proc/${pid}/fd`)) n++;
    return n;
  } catch {
    return 0;
  }
}

/** Bytes of the SQLite store in `dataDir`: `connector.db` and its `-wal` file. */
export function storeBytes(dataDir: string): { db: number; wal: number } {
  const size = (f: string) => {
    try {
      return Deno.statSync(`${dataDir}/${f}`).size;
    } catch {
      return 0; // not there (yet)
    }
  };
  return { db: size("connector.db"), wal: size("connector.db-wal") };
}
