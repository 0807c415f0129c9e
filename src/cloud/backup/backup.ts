/**
 * `connector cloud admin backup --out DIR`: everything a single-node cloud needs to come back
 * on a new disk, taken while it runs. The embedded database is copied with SQLite's own
 * `VACUUM INTO` from a read-only connection — one consistent snapshot (the write-ahead log's
 * committed pages included) that never blocks the running node's writers — and then checked
 * (`PRAGMA integrity_check`). Beside it go the CA and node keys and certificates (`ca/`, `tls/`),
 * the cloud secret (device passwords, signed RTSP URLs and webhook secrets are sealed with it)
 * and the recorded public URL. `backup.json` is written last (see `manifest.ts`). Compiled
 * executables (`downloads/`) are left out: they are copied again from the build.
 * The database is opened as it is, never migrated, so a backup taken before an upgrade is the
 * old version's own.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { dirname, join, relative, resolve } from "node:path";
import { writePublicFile, writeSecretFile } from "../../shared/crypto/files.ts";
import { osMessage } from "../../shared/os_error.ts";
import { VERSION } from "../../shared/version.ts";
import { SECRET_FILE } from "../tenancy/cloud_secret.ts";
import {
  BACKUP_FORMAT,
  BackupError,
  type BackupFile,
  type BackupManifest,
  DATABASE_FILE,
  fileDigest,
  MANIFEST_FILE,
  pathExists,
  setMode,
} from "./manifest.ts";

/** The directories of a data directory that a backup copies whole. */
export const KEY_DIRS = ["ca", "tls"] as const;

/** The single files of a data directory that a backup copies when present. */
export const OTHER_FILES = ["public-url"] as const;

/** The tables whose row counts a manifest records. */
const COUNTED = ["tenants", "sites", "agents", "devices", "users"] as const;

/** How long the snapshot waits for a writer holding the database (the running node). */
const BUSY_TIMEOUT_MS = 30_000;

/** Makes a backup of `dataDir` in `out` (absent or empty); returns its manifest. */
export async function makeBackup(o: {
  dataDir: string;
  out: string;
  /** The cloud secret's file (`--secret-key-file`); default the data directory's. */
  secretKeyFile?: string;
  /** Progress, one line at a time, for the operator. */
  say?: (line: string) => void;
  now?: () => Date;
}): Promise<BackupManifest> {
  const say = o.say ?? (() => {});
  const dataDir = resolve(o.dataDir);
  const source = join(dataDir, DATABASE_FILE);
  const secretFile = resolve(o.secretKeyFile ?? join(dataDir, SECRET_FILE));
  await mustExist(
    source,
    `no embedded database at ${source}: nothing to back up (is --data-dir the cloud's?)`,
  );
  await mustExist(
    secretFile,
    `no cloud secret at ${secretFile}: without it the backup could not open device ` +
      "passwords, RTSP URLs or webhook secrets; pass --secret-key-file when the cloud runs with one",
  );
  const out = resolve(o.out);
  if (out === dataDir || !relative(dataDir, out).startsWith("..")) {
    throw new BackupError(`--out ${out} is inside the data directory; choose a place outside it`);
  }
  await emptyDirectory(out);
  const files: BackupFile[] = [];

  say(`copying the database ${source} (a consistent snapshot; the cloud may keep running)`);
  const copy = join(out, DATABASE_FILE);
  const { schemaVersion, counts } = snapshot(source, copy);
  await setMode(copy, 0o600);
  files.push(await describe(out, DATABASE_FILE, 0o600));
  say(
    `  ${mib(files[0].size)} MiB, schema ${schemaVersion}, checked: ` +
      COUNTED.map((t) => `${counts[t] ?? 0} ${t}`).join(", "),
  );

  for (const dir of KEY_DIRS) {
    for (const rel of await regularFiles(join(dataDir, dir))) {
      const path = `${dir}/${rel}`;
      const mode = await copyKeeping(join(dataDir, path), join(out, path));
      files.push(await describe(out, path, mode));
      say(`  ${path}${mode === 0o600 ? " (private)" : ""}`);
    }
  }
  await copyKeeping(secretFile, join(out, SECRET_FILE), 0o600);
  files.push(await describe(out, SECRET_FILE, 0o600));
  say(`  ${SECRET_FILE} (private${o.secretKeyFile ? `, from ${secretFile}` : ""})`);
  for (const f of OTHER_FILES) {
    if (!await pathExists(join(dataDir, f))) continue;
    files.push(await describe(out, f, await copyKeeping(join(dataDir, f), join(out, f))));
    say(`  ${f}`);
  }

  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    product: "nanodems-connector",
    version: VERSION,
    createdAt: (o.now?.() ?? new Date()).toISOString(),
    dataDir,
    schemaVersion,
    counts,
    files,
  };
  await writePublicFile(join(out, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
  return manifest;
}

/** `VACUUM INTO` from a read-only connection, then the copy checked; its version and counts. */
function snapshot(
  source: string,
  copy: string,
): { schemaVersion: number; counts: Record<string, number> } {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(source, { readOnly: true });
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.prepare("VACUUM INTO ?").run(copy);
  } catch (e) {
    throw new BackupError(`cannot copy the database ${source}: ${sqliteMessage(e)}`);
  } finally {
    db?.close();
  }
  const check = new DatabaseSync(copy);
  try {
    const verdict = check.prepare("PRAGMA integrity_check").all()
      .map((r) => String(Object.values(r)[0]));
    if (verdict.join() !== "ok") {
      throw new BackupError(
        `the copy of ${source} fails SQLite's integrity check (${
          verdict.slice(0, 3).join("; ")
        }): ` +
          "the database itself is damaged; keep this backup and the data directory both",
      );
    }
    const schemaVersion = Number(check.prepare("PRAGMA user_version").get()!.user_version);
    const counts: Record<string, number> = {};
    for (const t of COUNTED) {
      try {
        counts[t] = Number(check.prepare(`SELECT count(*) AS n FROM ${t}`).get()!.n);
      } catch { /* a table this schema version does not have */ }
    }
    return { schemaVersion, counts };
  } finally {
    check.close();
  }
}

/** SQLite's words for a failure, without the driver's prefixes. */
export function sqliteMessage(e: unknown): string {
  return (e as Error).message?.replace(/^(SqliteError|Error): /, "") ?? String(e);
}

/**
 * Copies a small file atomically: 0600 when the source is private or `mode` says so, else 0644
 * (a certificate); returns the mode written.
 */
async function copyKeeping(from: string, to: string, mode?: number): Promise<number> {
  const m = mode ?? (((await Deno.stat(from)).mode ?? 0) & 0o077 ? 0o644 : 0o600);
  const data = await Deno.readFile(from);
  if (m === 0o600) await writeSecretFile(to, data);
  else await writePublicFile(to, data);
  return m;
}

/** A manifest entry for a file already in `out`. */
async function describe(out: string, path: string, mode: number): Promise<BackupFile> {
  return { path, mode, ...await fileDigest(join(out, path)) };
}

/** The regular files under `dir`, relative, sorted; temp files left by a crash skipped. */
async function regularFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (sub: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(join(dir, sub)));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory) await walk(rel);
      else if (e.isFile && !/^\..*\.tmp$/.test(e.name)) found.push(rel);
    }
  };
  await walk("");
  return found.sort();
}

/** Creates `dir` 0700, or accepts it when it exists and is empty. */
async function emptyDirectory(dir: string): Promise<void> {
  let entries: Deno.DirEntry[] | null = null;
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new BackupError(`cannot use --out ${dir}: ${osMessage(e)}`);
    }
  }
  if (entries?.length) {
    throw new BackupError(
      `--out ${dir} is not empty; give a new directory (one backup per directory)`,
    );
  }
  try {
    if (!entries) {
      await Deno.mkdir(dirname(dir), { recursive: true });
      await Deno.mkdir(dir, { mode: 0o700 });
    }
    await setMode(dir, 0o700);
  } catch (e) {
    throw new BackupError(`cannot create --out ${dir}: ${osMessage(e)}`);
  }
}

async function mustExist(path: string, message: string): Promise<void> {
  if (!await pathExists(path)) throw new BackupError(message);
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
