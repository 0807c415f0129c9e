/**
 * The one way tests wait for something a real process does in its own time: poll a check until
 * it holds, or fail after a limit naming what never happened (never a fixed sleep, which is
 * either too short on a slow machine or wasted on a fast one). A check of in-process state is
 * cheap: poll it every few milliseconds; one that asks a process (HTTP, a file) keeps the
 * default 200.
 * @module
 */

/** Waits until `check` holds (polling every `everyMs`), failing after `ms` with `what`. */
export async function until(
  what: string,
  check: () => Promise<boolean> | boolean,
  ms = 30_000,
  everyMs = 200,
): Promise<void> {
  await untilValue(what, async () => (await check()) || null, ms, everyMs);
}

/**
 * Waits until `get` returns a value (anything but null or undefined; polling every `everyMs`)
 * and returns it, failing after `ms` with `what`: e.g. the first ticket a fake agent was sent.
 */
export async function untilValue<T>(
  what: string,
  get: () => Promise<T | null | undefined> | T | null | undefined,
  ms = 30_000,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== null && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
