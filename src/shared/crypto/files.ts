/**
 * Crash-safe, permission-safe writes of key material. Agents and cloud nodes keep private keys,
 * enrollment tokens and certificates on disk; a torn write (power loss mid-write) would brick an
 * agent, and a key that is briefly world-readable leaks. So every write goes to a fresh temp file
 * created 0600 in the target's directory, is fsynced, then renamed over the target (atomic on
 * POSIX), and the final mode is applied again afterwards in case the target existed looser.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { encodeHex } from "../encoding.ts";

const isWindows = Deno.build.os === "windows";

async function writeAtomic(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  const dir = dirname(path);
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const suffix = encodeHex(crypto.getRandomValues(new Uint8Array(6)));
  const tmp = join(dir, `.${basename(path)}.${suffix}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let renamed = false;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o600 });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    if (!isWindows) await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
    renamed = true;
    if (!isWindows) await Deno.chmod(path, mode);
    await syncDir(dir);
  } finally {
    if (!renamed) await Deno.remove(tmp).catch(() => {});
  }
}

/** Best-effort fsync of a directory so the rename itself survives a crash (POSIX only). */
async function syncDir(dir: string): Promise<void> {
  if (isWindows) return;
  let handle: Deno.FsFile | undefined;
  try {
    handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Some filesystems refuse fsync on directories; the data itself is already synced.
  } finally {
    handle?.close();
  }
}

/**
 * Atomically writes a secret (private key, token) with mode 0600: writes a temp file created 0600
 * in the same directory, fsyncs it, renames it over `path`, and chmods 0600 again afterwards.
 * Missing parent directories are created with mode 0700. Strings are written as UTF-8.
 */
export async function writeSecretFile(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomic(path, data, 0o600);
}

/**
 * Atomically writes public material (certificates, CA bundles) the same way as
 * {@linkcode writeSecretFile}, but with final mode 0644. Missing parent directories are still
 * created 0700, since they usually hold the matching private key too.
 */
export async function writePublicFile(path: string, data: string | Uint8Array): Promise<void> {
  await writeAtomic(path, data, 0o644);
}

/**
 * Throws if the secret file at `path` is readable, writable or executable by group or others
 * (`mode & 0o077`) on POSIX; a no-op on Windows, which has no such mode bits. Also throws (as
 * `Deno.errors.NotFound`) when the file does not exist.
 */
export async function assertPrivate(path: string): Promise<void> {
  if (isWindows) return;
  const { mode } = await Deno.stat(path);
  if (mode === null) return;
  if ((mode & 0o077) !== 0) {
    const octal = (mode & 0o777).toString(8).padStart(3, "0");
    throw new Error(
      `${path} has mode 0${octal}: a secret must not be accessible to group/others (chmod 600)`,
    );
  }
}
