/**
 * WAL checkpoints off the cloud's event loop. `node:sqlite` is synchronous, and SQLite's
 * automatic checkpoint runs inside whichever commit finds 1 000 pages in the WAL: it copies them
 * into the database file and syncs both, 15–20 ms on the bench machine. Every tunnel's open and
 * close appends an audit entry, so at a few hundred opens a second that stalled every stream of
 * the node — data pumps, control streams, the browser proxy — about once a second (README
 * "Performance", "A checkpoint every second"). Here a worker with its own connection checkpoints
 * every `everyMs` (`sqlite_checkpoint_worker.ts`), and the cloud's connection stops checkpointing
 * once the worker is running, and rewinds the WAL once it holds `WAL_RESTART_AT`. Should the
 * worker fail, the connection checkpoints on its own again, so the WAL never grows without bound.
 * @module
 */
import type { DatabaseSync } from "node:sqlite";

/** The automatic checkpoint threshold SQLite uses by default (pages), restored on a fallback. */
export const AUTO_CHECKPOINT_PAGES = 1000;
/** How often the worker checkpoints. */
export const CHECKPOINT_EVERY_MS = 200;
/** A WAL larger than this is truncated back to it when it restarts (after a burst). */
export const WAL_SIZE_LIMIT = 64 << 20;
/**
 * The worker rewinds the WAL (a RESTART checkpoint, see `sqlite_checkpoint_worker.ts`) once it
 * holds this much, so the file stays about this size under any write rate.
 */
export const WAL_RESTART_AT = 16 << 20;

/** Where the checkpoints run: the worker, or (before it is ready, or after it failed) inline. */
export type CheckpointerState = "starting" | "background" | "inline";

/** Options of {@linkcode startCheckpointer}. */
export interface CheckpointerOptions {
  everyMs?: number;
  /** Told once when the worker fails and checkpoints return to the connection. */
  onFallback?: (why: string) => void;
  /** The worker module (tests swap in a failing one). */
  workerUrl?: URL;
  /** How long the worker may take to start (default 10 s). */
  readyWithinMs?: number;
  /** The WAL size at which the worker rewinds it (default `WAL_RESTART_AT`). */
  restartAtBytes?: number;
}

/** A running background checkpointer. */
export interface Checkpointer {
  readonly state: CheckpointerState;
  /** Resolves once the worker is running, or checkpoints fell back inline. */
  readonly ready: Promise<CheckpointerState>;
  /** Stops the worker (after its last checkpoint); the connection checkpoints on its own again. */
  stop(): Promise<void>;
}

/** Starts checkpointing the file `path` (open in WAL mode as `db`) in a worker. */
export function startCheckpointer(
  db: DatabaseSync,
  path: string,
  opts: CheckpointerOptions = {},
): Checkpointer {
  db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
  let state: CheckpointerState = "starting";
  let settle: (s: CheckpointerState) => void = () => {};
  const ready = new Promise<CheckpointerState>((r) => settle = r);
  const worker = new Worker(
    opts.workerUrl ?? new URL("./sqlite_checkpoint_worker.ts", import.meta.url),
    { type: "module" },
  );
  const inline = (why: string | null) => {
    if (state === "inline") return;
    state = "inline";
    clearTimeout(deadline);
    worker.terminate();
    if (db.isOpen) db.exec(`PRAGMA wal_autocheckpoint = ${AUTO_CHECKPOINT_PAGES}`);
    settle(state);
    if (why !== null) opts.onFallback?.(why);
  };
  const deadline = setTimeout(
    () => inline("the checkpoint worker did not start in time"),
    opts.readyWithinMs ?? 10_000,
  );
  let stopped: () => void = () => {};
  worker.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string; stopped?: boolean }>) => {
    if (e.data.stopped) return stopped();
    if (e.data.error) return inline(e.data.error);
    if (e.data.ready && state === "starting") {
      clearTimeout(deadline);
      if (db.isOpen) db.exec("PRAGMA wal_autocheckpoint = 0");
      state = "background";
      settle(state);
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    inline(`the checkpoint worker failed: ${e.message}`);
  };
  worker.postMessage({
    path,
    everyMs: opts.everyMs ?? CHECKPOINT_EVERY_MS,
    restartAtBytes: opts.restartAtBytes ?? WAL_RESTART_AT,
  });
  return {
    get state() {
      return state;
    },
    ready,
    stop: async () => {
      if (state === "background") {
        const done = new Promise<void>((r) => stopped = r);
        worker.postMessage({ stop: true });
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([done, new Promise((r) => timer = setTimeout(r, 1_000))]);
        clearTimeout(timer);
      }
      inline(null);
    },
  };
}
