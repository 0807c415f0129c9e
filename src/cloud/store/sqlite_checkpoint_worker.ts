/**
 * The worker of `sqlite_checkpointer.ts`: its own connection to the cloud's SQLite file, running
 * a PASSIVE checkpoint every few hundred milliseconds (copying what the WAL holds into the
 * database file and syncing both), so the cloud's event loop never does that work. PASSIVE
 * never waits for a lock and never blocks a writer.
 *
 * PASSIVE copies frames but never rewinds the WAL: SQLite writes from the WAL's start again only
 * when a write transaction begins with every frame already copied, which a cloud that commits
 * more often than the worker checkpoints never sees, so the file grew by every commit (30 000
 * audit entries: 900 MiB). Once the WAL holds `restartAtBytes`, the worker makes passes back to
 * back until one finds only a few new frames, then a RESTART checkpoint: it copies those few
 * under the write lock (the cloud's next commit waits that long, a millisecond or so) and
 * rewinds the WAL, so the next commit writes from its start.
 * Messages: in `{ path, everyMs, restartAtBytes }` once, then
 * `{ stop: true }`; out `{ ready: true }`, `{ error }` if the connection or a checkpoint fails
 * (the main side then checkpoints on its own again), and `{ stopped: true }`.
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** Catch-up passes before a RESTART is given up until the next tick. */
const CATCH_UP_PASSES = 8;
/** A RESTART follows a pass that found at most this many new frames (64 KiB at 4 KiB pages). */
const RESTART_COPIES_AT_MOST = 16;

/** What the main side sends: the file first, later a request to stop. */
type Command = { path: string; everyMs: number; restartAtBytes: number } | { stop: true };

/** The worker's side of `postMessage` / `onmessage` (typed here so the module checks as a script). */
const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Command>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};

scope.onmessage = (e) => {
  if ("stop" in e.data) return scope.close();
  const { path, everyMs, restartAtBytes } = e.data;
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
    db.exec("PRAGMA busy_timeout = 1000");
  } catch (err) {
    scope.postMessage({ error: `cannot open ${path}: ${(err as Error).message}` });
    return;
  }
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  const restart = db.prepare("PRAGMA wal_checkpoint(RESTART)");
  const pageSize = Number(db.prepare("PRAGMA page_size").get()!.page_size);
  const restartAtFrames = Math.max(1, Math.floor(restartAtBytes / pageSize));
  /** A PASSIVE pass; the WAL's frames when it ended. */
  const pass = () => Number(checkpoint.all()[0].log);
  const timer = setInterval(() => {
    try {
      let log = pass();
      if (log < restartAtFrames) return;
      // Passes back to back until one finds few new frames (commits made during the last
      // pass): only then may RESTART take the write lock, as it copies those frames under it.
      // Still busy after a few: the next tick tries again.
      for (let i = 0; i < CATCH_UP_PASSES; i++) {
        const next = pass();
        if (next - log <= RESTART_COPIES_AT_MOST) {
          restart.all(); // busy (a reader still on the WAL): the next tick tries again
          return;
        }
        log = next;
      }
    } catch (err) {
      clearInterval(timer);
      scope.postMessage({ error: `checkpoint failed: ${(err as Error).message}` });
      try {
        db.close();
      } catch { /* already failing */ }
    }
  }, everyMs);
  scope.onmessage = (next) => {
    if (!("stop" in next.data)) return;
    // A last checkpoint and a clean close, so the cloud's own close finds itself the last
    // connection and folds the WAL away.
    clearInterval(timer);
    try {
      checkpoint.all();
      db.close();
    } catch { /* the main side closes anyway */ }
    scope.postMessage({ stopped: true });
    scope.close();
  };
  scope.postMessage({ ready: true });
};
