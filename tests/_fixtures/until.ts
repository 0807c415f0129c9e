/**
 * The one way tests wait for something a real process does in its own time: poll a check until
 * it holds, or fail after a limit naming what never happened (never a fixed sleep, which is
 * either too short on a slow machine or wasted on a fast one).
 * @module
 */

/** Waits until `check` holds (polling every `everyMs`), failing after `ms` with `what`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 30_000,
  everyMs = 200,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
