/**
 * A terminal session's recording in asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/):
 * a header line, then `[seconds, "o", text]` for output, `"r"` for resizes and — only when the
 * tenant asks for it — `"i"` for input (off by default: what is typed at a password prompt would
 * otherwise be kept). Output bytes are decoded as a stream, so a UTF-8 character split across two
 * reads is recorded whole. A recording stops growing at a size cap and says so in its last event.
 * @module
 */

/** The largest recording kept (the rest of the session is not recorded). */
export const MAX_RECORDING_BYTES = 8 << 20;

/** Builds one session's asciicast. */
export class AsciicastRecorder {
  #lines: string[];
  #size: number;
  #start: number;
  #now: () => number;
  #decoder = new TextDecoder();
  #full = false;
  readonly recordInput: boolean;

  /** Starts the recording at `now()` with the terminal's first size. */
  constructor(opts: {
    now: () => number;
    cols: number;
    rows: number;
    recordInput: boolean;
    title?: string;
  }) {
    this.#now = opts.now;
    this.#start = opts.now();
    this.recordInput = opts.recordInput;
    const header = JSON.stringify({
      version: 2,
      width: opts.cols,
      height: opts.rows,
      timestamp: Math.floor(this.#start / 1000),
      env: { TERM: "xterm-256color" },
      ...(opts.title ? { title: opts.title } : {}),
    });
    this.#lines = [header];
    this.#size = header.length;
  }

  #event(kind: string, data: string): void {
    if (this.#full || data === "") return;
    const t = Math.max(0, (this.#now() - this.#start) / 1000);
    const line = JSON.stringify([Number(t.toFixed(6)), kind, data]);
    if (this.#size + line.length > MAX_RECORDING_BYTES) {
      this.#full = true;
      this.#lines.push(
        JSON.stringify([Number(t.toFixed(6)), "o", "\r\n[recording size limit reached]\r\n"]),
      );
      return;
    }
    this.#lines.push(line);
    this.#size += line.length + 1;
  }

  /** Output bytes from the device. */
  output(bytes: Uint8Array): void {
    this.#event("o", this.#decoder.decode(bytes, { stream: true }));
  }

  /** Input typed by the operator (kept only when the policy says so). */
  input(text: string): void {
    if (this.recordInput) this.#event("i", text);
  }

  /** A resize of the terminal. */
  resize(cols: number, rows: number): void {
    this.#event("r", `${cols}x${rows}`);
  }

  /** The asciicast document. */
  text(): string {
    const tail = this.#decoder.decode();
    if (tail) this.#event("o", tail);
    return this.#lines.join("\n") + "\n";
  }
}
