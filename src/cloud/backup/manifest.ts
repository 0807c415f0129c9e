/**
 * What a backup of a cloud's data directory is (`connector cloud admin backup` / `restore`): a
 * directory of plain files — the embedded database as one consistent copy, the CA and node keys,
 * the cloud secret — and `backup.json`, written last, which lists every file with its size,
 * SHA-256 and mode. A directory without `backup.json` is an interrupted backup, and a file whose
 * checksum differs was damaged or altered: restore refuses both before it writes anything. The
 * format has a version number, like the wire protocols: a restore refuses a format it does not
 * know.
 * @module
 */
import { createHash } from "node:crypto";
import { isAbsolute, join, normalize } from "node:path";
import { z } from "zod";

/** The format this build writes and reads. */
export const BACKUP_FORMAT = 1;

/** The manifest's file name inside a backup directory. */
export const MANIFEST_FILE = "backup.json";

/** The embedded database's file name, in a data directory and in a backup. */
export const DATABASE_FILE = "connector.db";

/** A path inside a backup: relative, forward slashes, never leaving the directory. */
const relativePath = z.string().min(1).max(200).refine(
  (p) => !isAbsolute(p) && !p.includes("\\") && normalize(p) === p && !p.startsWith(".."),
  "expected a path inside the backup",
);

/** One file of a backup. */
export const backupFile = z.object({
  path: relativePath,
  size: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** Permission bits (0o600 for keys and the database, 0o644 for certificates). */
  mode: z.number().int().min(0).max(0o777),
});

/** `backup.json`. */
export const backupManifest = z.object({
  format: z.literal(BACKUP_FORMAT),
  product: z.literal("nanodems-connector"),
  /** The version of the build that made it. */
  version: z.string(),
  createdAt: z.iso.datetime(),
  /** The data directory it was made from (absolute), for the operator's eyes only. */
  dataDir: z.string(),
  /** The database's schema version (`PRAGMA user_version`). */
  schemaVersion: z.number().int().min(0),
  /** What the database held, to tell backups apart at a glance. */
  counts: z.record(z.string(), z.number().int().min(0)),
  files: z.array(backupFile).min(1),
});

/** A parsed `backup.json`. */
export type BackupManifest = z.infer<typeof backupManifest>;
/** One file of a manifest. */
export type BackupFile = z.infer<typeof backupFile>;

/** Why a backup cannot be made or restored, in words for the operator. */
export class BackupError extends Error {
  /** Creates a backup error. */
  constructor(message: string) {
    super(message);
    this.name = "BackupError";
  }
}

/** The SHA-256 (hex) and size of a file, read in chunks (a database may be gigabytes). */
export async function fileDigest(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash("sha256");
  let size = 0;
  using file = await Deno.open(path, { read: true });
  const buf = new Uint8Array(1 << 20);
  for (;;) {
    const n = await file.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    size += n;
  }
  return { sha256: hash.digest("hex"), size };
}

/** Reads and checks a backup directory's manifest and every file it lists. */
export async function verifyBackup(dir: string): Promise<BackupManifest> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, MANIFEST_FILE));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new BackupError(
        `${dir} is not a complete backup: it has no ${MANIFEST_FILE} (a backup writes it last, ` +
          "so this one was interrupted, or the directory is not a backup)",
      );
    }
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupError(`${join(dir, MANIFEST_FILE)} is damaged: it is not JSON`);
  }
  const format = (parsed as { format?: unknown })?.format;
  if (typeof format === "number" && format !== BACKUP_FORMAT) {
    throw new BackupError(
      `${dir} is a backup in format ${format}; this build reads format ${BACKUP_FORMAT}: ` +
        "restore it with the version that made it (or a newer one)",
    );
  }
  const m = backupManifest.safeParse(parsed);
  if (!m.success) {
    const first = m.error.issues[0];
    throw new BackupError(
      `${join(dir, MANIFEST_FILE)} is damaged: ${
        first.path.join(".") || "(top)"
      }: ${first.message}`,
    );
  }
  if (!m.data.files.some((f) => f.path === DATABASE_FILE)) {
    throw new BackupError(`${dir} lists no ${DATABASE_FILE}: it is not a backup of a cloud`);
  }
  for (const f of m.data.files) {
    let got: { sha256: string; size: number };
    try {
      got = await fileDigest(join(dir, f.path));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new BackupError(`${f.path} is missing from the backup in ${dir}`);
      }
      throw e;
    }
    if (got.size !== f.size || got.sha256 !== f.sha256) {
      throw new BackupError(
        `${f.path} in ${dir} is not the file that was backed up (its SHA-256 or size differs): ` +
          "the backup was damaged or altered; nothing was restored",
      );
    }
  }
  return m.data;
}

/** Whether anything (a file, a directory, a dangling link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Sets permission bits where the platform has them (not on Windows, whose ACLs stay). */
export async function setMode(path: string, mode: number): Promise<void> {
  if (Deno.build.os !== "windows") await Deno.chmod(path, mode);
}
