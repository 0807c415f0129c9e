/**
 * A log file that stays bounded however long the program runs. The agent's Windows service
 * writes its only log to a file (`--log-file`) and runs for months; the file was moved aside only
 * when the program started, so a service that was never restarted grew its log until the disk was
 * full. Now the file is moved to `<file>.1` (replacing the previous one) whenever it has passed
 * the limit, at a line boundary, at start and while running: at most about twice the limit on
 * disk. A rotation that fails (another program holds the file open on Windows) is tried again
 * after another tenth of the limit, and writing goes on in the same file meanwhile.
 * @module
 */
import { osMessage } from "./os_error.ts";
import type { SyncWriter } from "./log_sink.ts";

/** A log file is moved aside to `<file>.1` once it is larger than this. */
export const LOG_FILE_ROTATE_BYTES = 10 << 20;

/** An append-only log file that rotates itself (see the module comment). */
export class LogFile implements SyncWriter {
  readonly path: string;
  readonly #limit: number;
  #file: Deno.FsFile | null = null;
  #size = 0;
  /** The size at which to rotate next (pushed on after a failed rotation). */
  #next: number;
  /** Whether the last byte written ended a line (rotation happens only then). */
  #atLineStart = true;

  private constructor(path: string, limit: number) {
    this.path = path;
    this.#limit = limit;
    this.#next = limit;
  }

  /**
   * Opens `path` for appending (creating its directory), first moving it aside when it is over
   * `limit`; throws an error that names the file when it cannot be opened.
   */
  static open(path: string, limit = LOG_FILE_ROTATE_BYTES): LogFile {
    const f = new LogFile(path, limit);
    try {
      const dir = path.replace(/[\\/][^\\/]*$/, "");
      if (dir && dir !== path) Deno.mkdirSync(dir, { recursive: true });
      f.#reopen();
      if (f.#size > limit) f.#rotate();
    } catch (e) {
      throw new Error(`cannot open the log file ${path}: ${osMessage(e)}`, { cause: e });
    }
    return f;
  }

  /** Appends `p` (rotating first when due); throws what the file system throws. */
  writeSync(p: Uint8Array): number {
    if (this.#atLineStart && this.#size > this.#next) this.#rotate();
    if (!this.#file) this.#reopen();
    const n = this.#file!.writeSync(p);
    this.#size += n;
    if (n > 0) this.#atLineStart = p[n - 1] === 0x0a;
    return n;
  }

  /** Closes the file. */
  close(): void {
    this.#file?.close();
    this.#file = null;
  }

  #reopen(): void {
    this.#file = Deno.openSync(this.path, { append: true, create: true });
    this.#size = this.#file.statSync().size;
  }

  #rotate(): void {
    this.close();
    try {
      Deno.renameSync(this.path, `${this.path}.1`);
      this.#next = this.#limit;
    } catch {
      // Held open elsewhere (Windows): keep writing here, try again a tenth of the limit later.
      this.#next = this.#size + Math.max(1, Math.floor(this.#limit / 10));
    }
    try {
      this.#reopen();
    } catch {
      this.#file = null; // the next write tries again (and its failure is the sink's to count)
    }
  }
}
