/**
 * A full disk for one process, without mounting one (that needs root): the command prefix that
 * runs it under a file-size limit (RLIMIT_FSIZE, `prlimit --fsize`), so the kernel refuses to
 * grow any file past `bytes`. SIGXFSZ is ignored first (an ignored signal stays ignored through
 * exec), so a write past the limit fails as a write to a full disk does, instead of killing the
 * process. The soft limit only: `prlimit --pid PID --fsize=unlimited` lifts it on the running
 * process ("space freed").
 * @module
 */

/** The prefix for `Deno.Command` / `Proc` that runs a command as on a disk full at `bytes`. */
export function fullDiskAt(bytes: number): string[] {
  return [
    "sh",
    "-c",
    'trap "" XFSZ; exec "$@"',
    "sh",
    "prlimit",
    `--fsize=${bytes}:unlimited`,
    "--",
  ];
}
