/**
 * An operating-system error in words for a person: Deno writes `No space left on device (os
 * error 28): write '/x'`; the number means nothing to a technician, so every message that quotes
 * such an error (a log that cannot be written, a key or data directory that cannot be created)
 * quotes it without it.
 * @module
 */

/** The message of `e` without Deno's " (os error N)". */
export function osMessage(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).replace(/ \(os error \d+\)/, "");
}
