/**
 * Where log lines are written, made so that a log that cannot be written never stops the
 * program that logs. A full disk under an agent's `--log-file` (a Windows service's only log)
 * made every later log call throw — and an agent that logs while handling an error then died of
 * the log, not of the error. Whatever the writer (a file, stderr), a failed write is the sink's. Lines that cannot be written are counted and
 * dropped; once writing works again, a warning says how many were lost and why, before the next
 * line. A short write is finished, not truncated.
 * @module
 */
import { osMessage } from "./os_error.ts";

/** What a sink writes to: a file or stderr (`Deno.FsFile`, `Deno.stderr`). */
export interface SyncWriter {
  writeSync(p: Uint8Array): number;
}

/** A line writer that never throws (see the module comment). */
export class LogSink {
  readonly #out: SyncWriter;
  readonly #notice: (lost: number, reason: string) => string;
  #lost = 0;
  #reason = "";

  /**
   * Writes to `out`; `notice` formats the line that reports `lost` lines and the `reason` the
   * writes failed (in the log's own format).
   */
  constructor(out: SyncWriter, notice: (lost: number, reason: string) => string) {
    this.#out = out;
    this.#notice = notice;
  }

  /** How many lines were dropped since writing last worked. */
  get lost(): number {
    return this.#lost;
  }

  /** Writes one line (or counts it lost). Never throws. */
  write(line: Uint8Array): void {
    if (this.#lost > 0) {
      const notice = new TextEncoder().encode(this.#notice(this.#lost, this.#reason));
      if (!this.#writeAll(notice)) {
        this.#lost++;
        return;
      }
      this.#lost = 0;
    }
    if (!this.#writeAll(line)) this.#lost++;
  }

  #writeAll(bytes: Uint8Array): boolean {
    try {
      for (let off = 0; off < bytes.byteLength;) {
        const n = this.#out.writeSync(bytes.subarray(off));
        if (n <= 0) throw new Error("nothing written");
        off += n;
      }
      return true;
    } catch (e) {
      this.#reason = osMessage(e);
      return false;
    }
  }
}
