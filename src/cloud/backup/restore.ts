/**
 * `connector cloud admin restore --from DIR`: puts a backup (`backup.ts`) back as a data
 * directory, for a cloud started on it afterwards. Everything is checked before anything is
 * written: the manifest and every file's SHA-256 (`manifest.ts`), and the database's schema
 * against this build (a backup from a newer version is refused, as the cloud would refuse it).
 * A data directory that already holds a cloud is replaced only with `--force`, never while a
 * node is running on it, and nothing of it is deleted: its database, keys and secret are moved
 * into `before-restore-<time>/` inside it. The files are copied into a staging directory first
 * and renamed into place, so an interrupted restore leaves the staging directory, not half a
 * cloud.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join, resolve } from "node:path";
import { encodeHex } from "../../shared/encoding.ts";
import { osMessage } from "../../shared/os_error.ts";
import { MIGRATIONS } from "../store/sqlite_migrations.ts";
import { NODE_STALE_MS } from "../nodes.ts";
import { SECRET_FILE } from "../tenancy/cloud_secret.ts";
import { KEY_DIRS, OTHER_FILES, sqliteMessage } from "./backup.ts";
import {
  BackupError,
  type BackupManifest,
  DATABASE_FILE,
  pathExists,
  setMode,
  verifyBackup,
} from "./manifest.ts";

/** What a restore replaces in a data directory (set aside, never deleted). */
const REPLACED = [
  DATABASE_FILE,
  `${DATABASE_FILE}-wal`,
  `${DATABASE_FILE}-shm`,
  ...KEY_DIRS,
  SECRET_FILE,
  ...OTHER_FILES,
];

/** What a restore did. */
export interface Restored {
  manifest: BackupManifest;
  dataDir: string;
  /** Where the data directory's previous files went, or null when it held none. */
  setAside: string | null;
}

/** Restores the backup in `from` into `dataDir`. */
export async function restoreBackup(o: {
  from: string;
  dataDir: string;
  /** Replace a data directory that holds a cloud (its files are set aside). */
  force?: boolean;
  say?: (line: string) => void;
  now?: () => Date;
}): Promise<Restored> {
  const say = o.say ?? (() => {});
  const from = resolve(o.from);
  const dataDir = resolve(o.dataDir);
  say(`checking the backup in ${from}`);
  const manifest = await verifyBackup(from);
  const schema = schemaOf(join(from, DATABASE_FILE));
  if (schema > MIGRATIONS.length) {
    throw new BackupError(
      `the backup's database has schema version ${schema}, but this build knows only up to ` +
        `${MIGRATIONS.length}: it was made by a newer version (${manifest.version}); restore it ` +
        "with that version or a newer one",
    );
  }
  say(
    `  made ${manifest.createdAt} by version ${manifest.version} from ${manifest.dataDir}; ` +
      `${manifest.files.length} files, every checksum matches`,
  );

  const present = [];
  for (const name of REPLACED) if (await pathExists(join(dataDir, name))) present.push(name);
  if (present.length && !o.force) {
    throw new BackupError(
      `${dataDir} already holds a cloud (${present.join(", ")}); restore into a new data ` +
        "directory, or pass --force to replace it (its files are set aside in " +
        "before-restore-<time>/ inside it, not deleted)",
    );
  }
  if (present.includes(DATABASE_FILE)) refuseIfRunning(join(dataDir, DATABASE_FILE));

  try {
    await Deno.mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new BackupError(`cannot create the data directory ${dataDir}: ${osMessage(e)}`);
  }
  const staging = join(dataDir, `.restore-${encodeHex(crypto.getRandomValues(new Uint8Array(4)))}`);
  try {
    await Deno.mkdir(staging, { mode: 0o700 });
    for (const f of manifest.files) {
      const to = join(staging, f.path);
      await Deno.mkdir(join(to, ".."), { recursive: true, mode: 0o700 });
      await Deno.copyFile(join(from, f.path), to);
      await setMode(to, f.mode);
      using file = await Deno.open(to, { read: true, write: true });
      await file.sync();
    }
  } catch (e) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw new BackupError(`cannot write into ${dataDir}: ${osMessage(e)}; nothing was replaced`);
  }

  let setAside: string | null = null;
  if (present.length) {
    setAside = join(
      dataDir,
      `before-restore-${(o.now?.() ?? new Date()).toISOString()}`
        .replace(/[:.]/g, "-"),
    );
    await Deno.mkdir(setAside, { mode: 0o700 });
    for (const name of present) await Deno.rename(join(dataDir, name), join(setAside, name));
    say(`  the data directory's previous files are in ${setAside}`);
  }
  // Top-level entries of the backup, renamed into place (the database last).
  const tops = [...new Set(manifest.files.map((f) => f.path.split("/")[0]))]
    .sort((a, b) => Number(a === DATABASE_FILE) - Number(b === DATABASE_FILE));
  for (const name of tops) await Deno.rename(join(staging, name), join(dataDir, name));
  await Deno.remove(staging, { recursive: true });
  await setMode(dataDir, 0o700);
  return { manifest, dataDir, setAside };
}

/** The database's schema version, read without changing anything. */
function schemaOf(path: string): number {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    return Number(db.prepare("PRAGMA user_version").get()!.user_version);
  } catch (e) {
    throw new BackupError(`cannot read the backup's database ${path}: ${sqliteMessage(e)}`);
  } finally {
    db?.close();
  }
}

/** Refuses while a node registered in the database has been seen lately and not stopped. */
function refuseIfRunning(path: string): void {
  let rows: { name: string; seen_at: number }[] = [];
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { readOnly: true });
    db.exec("PRAGMA busy_timeout = 5000");
    rows = db.prepare("SELECT name, seen_at FROM nodes WHERE stopped_at IS NULL AND seen_at > ?")
      .all(Date.now() - NODE_STALE_MS) as typeof rows;
  } catch {
    /* no node registry (an old or damaged database): nothing to go by */
  } finally {
    db?.close();
  }
  if (rows.length) {
    const who = rows.map((r) =>
      `${r.name}, seen ${Math.round((Date.now() - r.seen_at) / 1000)} s ago`
    );
    throw new BackupError(
      `a cloud node is running on this data directory (${who.join("; ")}): stop it first, then ` +
        `restore (a node that crashed counts as running for ${NODE_STALE_MS / 1000} s)`,
    );
  }
}
