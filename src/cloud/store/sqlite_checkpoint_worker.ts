/**
 * The worker of `sqlite_checkpointer.ts`: its own connection to the cloud's SQLite file, running
 * a PASSIVE checkpoint every few hundred milliseconds (copying what the WAL holds into the
 * database file and syncing both), so the cloud's event loop never does that work. PASSIVE
 * never waits for a lock and never blocks a writer. Messages: in `{ path, everyMs }` once, then
 * `{ stop: true }`; out `{ ready: true }`, `{ error }` if the connection or a checkpoint fails
 * (the main side then checkpoints on its own again), and `{ stopped: true }`.
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** What the main side sends: the file first, later a request to stop. */
type Command = { path: string; everyMs: number } | { stop: true };

/** The worker's side of `postMessage` / `onmessage` (typed here so the module checks as a script). */
const scope = globalThis as unknown as {
  onmessage: ((e: MessageEvent<Command>) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
};

scope.onmessage = (e) => {
  if ("stop" in e.data) return scope.close();
  const { path, everyMs } = e.data;
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
    db.exec("PRAGMA busy_timeout = 1000");
  } catch (err) {
    scope.postMessage({ error: `cannot open ${path}: ${(err as Error).message}` });
    return;
  }
  const checkpoint = db.prepare("PRAGMA wal_checkpoint(PASSIVE)");
  const timer = setInterval(() => {
    try {
      checkpoint.get();
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
      checkpoint.get();
      db.close();
    } catch { /* the main side closes anyway */ }
    scope.postMessage({ stopped: true });
    scope.close();
  };
  scope.postMessage({ ready: true });
};
