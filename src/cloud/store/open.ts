/**
 * Opens the store a data directory holds: the embedded SQLite database `connector.db`
 * (the directory is created 0700 on first use).
 * @module
 */
import { join } from "node:path";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { openSqliteStore } from "./sqlite.ts";
import type { Store } from "./store.ts";

/** Opens the embedded store of a data directory. */
export async function openDataDir(dataDir: string, clock: Clock = systemClock): Promise<Store> {
  await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  return await openSqliteStore({ path: join(dataDir, "connector.db"), clock });
}
