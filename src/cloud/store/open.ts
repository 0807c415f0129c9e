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

/**
 * What the person who runs the node can check, for the driver's reason a MongoDB could not be
 * opened (null when there is nothing better than the reason itself).
 */
export function mongoOpenHint(reason: string): string | null {
  if (/ECONNREFUSED|connection refused/i.test(reason)) {
    return "nothing listens there: is MongoDB running, on that host and port, and reachable " +
      "from this node? Check --store / NC_STORE";
  }
  if (/ENOTFOUND|EAI_AGAIN|querySrv|getaddrinfo/i.test(reason)) {
    return "the host name does not resolve from this node: check --store / NC_STORE and DNS";
  }
  if (/Authentication failed|auth(entication)? error|bad auth/i.test(reason)) {
    return "the database refused the user name or password in the URI (or its authSource)";
  }
  if (/timed out|ETIMEDOUT|Server selection/i.test(reason)) {
    return "no answer in time: a firewall between this node and the database, or the wrong " +
      "address";
  }
  return null;
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
      const hint = mongoOpenHint((e as Error).message);
      throw new Error(
        `cannot open the store ${redactStoreUrl(url)}: ${(e as Error).message}` +
          (hint ? ` (${hint})` : ""),
        { cause: e },
      );
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
