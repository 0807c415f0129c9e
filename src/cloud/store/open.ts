/**
 * Opens the store a cloud is configured with (`--store` / `NC_STORE`): the embedded SQLite
 * database (`sqlite:` — `connector.db` in the data directory, created 0700 on first use — or
 * `sqlite:PATH`), or a shared MongoDB (`mongodb://…`, `mongodb+srv://…`) for several nodes.
 * Either way the store comes guarded (`outage.ts`): an unreachable database is the catalogue's
 * `store_unavailable` (503), never a driver error surfacing as a 500.
 * @module
 */
import { join } from "node:path";
import { z } from "zod";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { openSqliteStore, type UpgradeListener } from "./sqlite.ts";
import { isMongoUrl, openMongoStore } from "./mongo.ts";
import { guardStore } from "./outage.ts";
import { osMessage } from "../../shared/os_error.ts";
import type { Store } from "./store.ts";

/** The `--store` value: `sqlite:`, `sqlite:PATH`, `mongodb://…` or `mongodb+srv://…`. */
export const storeUrl = z.string().refine(
  (s) =>
    s.startsWith("sqlite:") ||
    /^mongodb(\+srv)?:\/\/[^/?#\s]+(\/[^?#\s]*)?(\?\S*)?$/.test(s),
  "expected sqlite: (the data directory's database), sqlite:PATH, or a mongodb:// / mongodb+srv:// URI",
);

/** The store URL with any password replaced by `***`, for logs and banners. */
export function redactStoreUrl(url: string): string {
  return url.replace(/^(mongodb(?:\+srv)?:\/\/[^:/@]+:)[^@]*@/, "$1***@");
}

/** Opens the store `url` names (default `sqlite:`, the data directory's embedded database). */
export async function openStore(
  url: string,
  dataDir: string,
  clock: Clock = systemClock,
  opts: OpenStoreOptions = {},
): Promise<Store> {
  if (isMongoUrl(url)) {
    try {
      return guardStore(await openMongoStore({ url, clock }));
    } catch (e) {
      throw new Error(`cannot open the store ${redactStoreUrl(url)}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  const path = url.slice("sqlite:".length);
  if (path) return guardStore(await openSqliteStore({ path, clock, ...opts }));
  return guardStore(await openDataDir(dataDir, clock, opts));
}

/** How a serving cloud opens its store (the embedded one: checkpoints in a worker). */
export interface OpenStoreOptions {
  backgroundCheckpoints?: { onFallback?: (why: string) => void };
  /** Told before and after the embedded store's schema is upgraded. */
  onUpgrade?: UpgradeListener;
}

/** Opens the embedded store of a data directory. */
export async function openDataDir(
  dataDir: string,
  clock: Clock = systemClock,
  opts: OpenStoreOptions = {},
): Promise<Store> {
  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    // A read-only file system, a directory owned by another user (a first run as root, then
    // the service's own user): say which setting to change, not only the system call.
    throw new Error(
      `cannot create the data directory ${dataDir}: ${osMessage(e)}; ` +
        "give --data-dir (NC_DATA_DIR) a directory this user can write",
      { cause: e },
    );
  }
  return await openSqliteStore({ path: join(dataDir, "connector.db"), clock, ...opts });
}
