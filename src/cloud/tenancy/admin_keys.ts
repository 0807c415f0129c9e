/**
 * The break-glass admin key(s), rotatable without a restart. The key comes from `--admin-api-key`
 * / `NC_ADMIN_API_KEY` (or `--admin-api-key -`, standard input), or from `--admin-api-key-file`,
 * a file of one or two keys (one per line; `#` comments and blank lines ignored) that is re-read
 * when it changes, checked at most once per {@link RECHECK_MS}. Rotation: put the new key in the
 * file beside the old one (both are accepted), move clients over, remove the old one. Only
 * SHA-256 hashes are held; a key shorter than 32 characters in the file is ignored with a warning.
 * @module
 */
import { hashToken } from "../../shared/crypto/token.ts";
import type { Logger } from "../../shared/log.ts";
import type { Clock } from "../../shared/clock.ts";

/** How often the key file is checked for a change, at most. */
export const RECHECK_MS = 1_000;
/** The most keys a file may hold at once (the old and the new during a rotation). */
export const MAX_KEYS = 2;

/** Whether a key is acceptable: at least 32 characters of varied text. */
export function strongKey(k: string): boolean {
  return k.length >= 32 && new Set(k).size >= 12;
}

/** The configured admin keys (as hashes). */
export class AdminKeys {
  #hashes: string[];
  #file: string | null;
  #stamp = "";
  #checkedAt = 0;
  #clock: Clock;
  #log: Logger;

  private constructor(hashes: string[], file: string | null, clock: Clock, log: Logger) {
    this.#hashes = hashes;
    this.#file = file;
    this.#clock = clock;
    this.#log = log;
  }

  /** Loads the keys (the file's first reading is awaited; a missing file is an error). */
  static async create(
    o: { key: string | null; file: string | null; clock: Clock; log: Logger },
  ): Promise<AdminKeys> {
    const fixed = o.key ? [await hashToken(o.key)] : [];
    const keys = new AdminKeys(fixed, o.file, o.clock, o.log);
    if (o.file) await keys.#reload(true);
    return keys;
  }

  /** The hashes accepted now; null when no admin key is configured. Triggers a re-check. */
  hashes(): string[] | null {
    const now = this.#clock.now();
    if (this.#file && now - this.#checkedAt >= RECHECK_MS) {
      this.#checkedAt = now;
      this.#reload(false).catch((e) =>
        this.#log.warn({ err: (e as Error).message }, "admin key file not re-read")
      );
    }
    return this.#hashes.length ? this.#hashes : null;
  }

  async #reload(first: boolean): Promise<void> {
    const file = this.#file!;
    const st = await Deno.stat(file);
    const stamp = `${st.mtime?.getTime() ?? 0}:${st.size}:${st.ino ?? 0}`;
    if (stamp === this.#stamp) return;
    if (st.mode !== null && (st.mode & 0o077) !== 0) {
      this.#log.warn({ file }, "admin key file is readable by group or others; chmod 600 it");
    }
    const keys = (await Deno.readTextFile(file)).split(/\r?\n/).map((l) => l.trim())
      .filter((l) => l && !l.startsWith("#"));
    const good = keys.filter(strongKey);
    if (good.length < keys.length) {
      this.#log.warn({ file, ignored: keys.length - good.length }, "weak admin keys ignored");
    }
    if (good.length > MAX_KEYS) {
      this.#log.warn(
        { file, used: MAX_KEYS },
        "more than two admin keys in the file; first two used",
      );
    }
    const hashes = await Promise.all(good.slice(0, MAX_KEYS).map((k) => hashToken(k)));
    this.#stamp = stamp;
    this.#hashes = hashes;
    if (!first) this.#log.info({ file, keys: hashes.length }, "admin keys re-read");
  }
}
