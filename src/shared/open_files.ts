/**
 * The process's open files. Every socket is a file descriptor and a process may hold only so many
 * (the soft RLIMIT_NOFILE, which every role raises to the hard limit when it starts, so what is
 * left is the hard limit: 1 024 or 4 096 on some servers and containers). The CLI holds one listening
 * socket per device port of its session and two more per connection it carries, so it asks how
 * many it may spend on listeners and says once what it could not bind, instead of failing bind
 * after bind and then every connection. Accept loops tell running out of descriptors (EMFILE,
 * ENFILE: wait and accept again) from a closed listener (stop).
 *
 * The limit is read and raised with libc's getrlimit/setrlimit through Deno's FFI (`libc.ts`,
 * `--allow-ffi`, part of `-A` and of the compiled executables).
 * @module
 */

import { type Libc, openLibc } from "./libc.ts";

/** macOS refuses a soft limit above OPEN_MAX (10 240) however high the hard limit is. */
const DARWIN_OPEN_MAX = 10_240n;

const asNumber = (v: bigint): number =>
  v >= BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);

/** Runs `fn` with libc and RLIMIT_NOFILE; null where that is not possible. */
function withRlimit<T>(fn: (lib: Libc, resource: number) => T): T | null {
  const os = Deno.build.os;
  if (os !== "linux" && os !== "darwin") return null;
  let lib: Libc;
  try {
    lib = openLibc();
  } catch {
    return null;
  }
  return fn(lib, os === "linux" ? 7 : 8);
}

/**
 * The soft open-file limit (RLIMIT_NOFILE) of this process: how many descriptors it may hold.
 * Null where unknown (Windows, which has no such limit for sockets; no FFI permission).
 */
export function openFileLimit(): number | null {
  return withRlimit((lib, resource) => {
    const lim = new BigUint64Array(2); // struct rlimit { rlim_cur, rlim_max }, 64-bit each
    return lib.symbols.getrlimit(resource, lim) === 0 ? asNumber(lim[0]) : null;
  });
}

/**
 * Raises the soft open-file limit to the hard one (on macOS at most 10 240), as `deno run`
 * does when it starts — done here too so that a compiled executable does the same whatever its
 * runtime does. Returns the limit before and after; null where it cannot be read. Never throws.
 */
export function raiseOpenFileLimit(): { before: number; after: number } | null {
  return withRlimit((lib, resource) => {
    const lim = new BigUint64Array(2);
    if (lib.symbols.getrlimit(resource, lim) !== 0) return null;
    const [cur, max] = lim;
    let want = max;
    if (Deno.build.os === "darwin" && want > DARWIN_OPEN_MAX) want = DARWIN_OPEN_MAX;
    if (want <= cur) return { before: asNumber(cur), after: asNumber(cur) };
    const ok = lib.symbols.setrlimit(resource, new BigUint64Array([want, max])) === 0;
    return { before: asNumber(cur), after: asNumber(ok ? want : cur) };
  });
}

/** How many descriptors the process holds now (Linux and macOS); null where unknown. */
export function openDescriptors(): number | null {
  for (const dir of ["/proc/self/fd", "/dev/fd"]) {
    try {
      let n = 0;
      for (const _ of Deno.readDirSync(dir)) n++;
      // Reading the directory held one descriptor of its own while it was counted.
      return Math.max(0, n - 1);
    } catch { /* the next place, or unknown */ }
  }
  return null;
}

/** Whether an error is the process (EMFILE) or the system (ENFILE) running out of descriptors. */
export function isOutOfDescriptors(err: unknown): boolean {
  const m = err instanceof Error ? err.message : String(err);
  return /os error 2[34]\b|too many open files/i.test(m);
}
