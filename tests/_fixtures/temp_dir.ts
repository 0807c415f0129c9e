/**
 * A temporary directory for the length of one test body, removed afterwards whatever happened.
 * @module
 */

/** Runs `f` with a fresh temporary directory, then removes it. */
export async function inTempDir(f: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
