/**
 * Store outages as values. When the database is unreachable (MongoDB down, a network partition,
 * a replica set without a primary, SQLite locked past its busy timeout), every store call fails
 * with the one catalogue error `store_unavailable` (HTTP 503, gRPC UNAVAILABLE, "the cloud cannot
 * reach its database; try again shortly") instead of a driver error that would surface as a 500;
 * so does an embedded database whose disk is full or failing.
 * This module is the one place that recognizes such failures: {@linkcode guardStore} wraps the
 * store every cloud process opens, so an authentication, allowlist or revocation check that
 * cannot reach the database throws — and a thrown check denies (fails closed), while tunnels
 * that are already open keep flowing because the data plane never touches the store per byte.
 * @module
 */
import {
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
} from "mongodb";
import { AppError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { Store } from "./store.ts";

/**
 * MongoDB server codes that mean "not now, try again" (the driver's retryable-read set:
 * unreachable host, network timeout, shutdown, primary stepped down, no primary).
 */
const UNAVAILABLE_SERVER_CODES = new Set([
  6, // HostUnreachable
  7, // HostNotFound
  89, // NetworkTimeout
  91, // ShutdownInProgress
  189, // PrimarySteppedDown
  262, // ExceededTimeLimit
  9001, // SocketException
  10107, // NotWritablePrimary
  11600, // InterruptedAtShutdown
  11602, // InterruptedDueToReplStateChange
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  134, // ReadConcernMajorityNotAvailableYet
]);

/** WriteConcernFailed / WriteConcernTimeout: no majority acknowledged within `wtimeoutMS`. */
const WRITE_CONCERN_TIMEOUT = 64;

/**
 * SQLite primary result codes that mean the database cannot be used right now: held by another
 * writer past the busy timeout (BUSY, LOCKED), or its storage failing — the disk is full (FULL),
 * an I/O error (IOERR: ENOSPC while writing the WAL, a failing or detached disk), the files or
 * their file system became read-only (READONLY), or a file cannot be opened (CANTOPEN). Each
 * passes when the operator frees space or mends the disk, with no restart.
 */
const SQLITE_UNAVAILABLE = new Set([
  5, // SQLITE_BUSY
  6, // SQLITE_LOCKED
  8, // SQLITE_READONLY
  10, // SQLITE_IOERR
  13, // SQLITE_FULL
  14, // SQLITE_CANTOPEN
]);

/** The same, as exec() reports them (a message, no errcode). */
const SQLITE_UNAVAILABLE_MESSAGE =
  /^(database (table )?is locked|database or disk is full|disk I\/O error|attempt to write a readonly database|unable to open database file)/;

/**
 * Socket errors that reach a store call unwrapped. Under Deno the driver sometimes surfaces the
 * raw `EPIPE` ("This socket has been ended by the other party") of a server that just died,
 * not a MongoNetworkError; inside a store call a socket can only be the database's.
 */
const SOCKET_ERROR_CODES = new Set([
  "EPIPE",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ERR_SOCKET_CLOSED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_WRITE_AFTER_END",
]);

/** Whether one error (not its causes) says the database cannot be reached right now. */
function isOutageError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  if (
    e instanceof MongoNetworkError || // includes timeouts and pools cleared by a network error
    e instanceof MongoServerSelectionError ||
    e instanceof MongoTopologyClosedError ||
    e instanceof MongoNotConnectedError ||
    e instanceof MongoServerClosedError ||
    e instanceof MongoOperationTimeoutError
  ) return true;
  if (e instanceof MongoWriteConcernError && Number(e.code) === WRITE_CONCERN_TIMEOUT) return true;
  if (e instanceof MongoServerError || e instanceof MongoWriteConcernError) {
    return UNAVAILABLE_SERVER_CODES.has(Number(e.code));
  }
  if (SOCKET_ERROR_CODES.has(String((e as { code?: unknown }).code))) return true;
  // The driver's wait-queue timeout is not exported as a class.
  if (e.name === "MongoWaitQueueTimeoutError") return true;
  // node:sqlite: { code: "ERR_SQLITE_ERROR", errcode: 13, errstr: "database or disk is full" }
  // (statements carry errcode; exec() gives only the message).
  const sqlite = e as Error & { code?: string; errcode?: number };
  if (sqlite.code === "ERR_SQLITE_ERROR") {
    if (sqlite.errcode === undefined) return SQLITE_UNAVAILABLE_MESSAGE.test(e.message);
    // Extended codes (SQLITE_IOERR_WRITE = 778) keep the primary in the low byte.
    return SQLITE_UNAVAILABLE.has(sqlite.errcode & 0xff);
  }
  return false;
}

/**
 * Whether `e` (or anything in its `cause` chain) means the store is unreachable right now: the
 * driver could not select a server or lost its connection, the operation timed out, the replica
 * set has no primary, SQLite stayed locked past its busy timeout, or its disk is full or failing.
 */
export function isStoreOutage(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && depth < 8; depth++) {
    if (cur instanceof AppError) return cur.code === "store_unavailable";
    if (isOutageError(cur)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Turns an outage into `store_unavailable` (driver details kept for logs only); else `e`. */
export function asStoreError(e: unknown): unknown {
  if (!isStoreOutage(e) || e instanceof AppError) return e;
  const err = e as Error;
  return new AppError("store_unavailable", undefined, {
    cause: `${err.name}: ${err.message}`.slice(0, 300),
  });
}

/**
 * Wraps a store so every method that fails because the database is unreachable rejects (or
 * throws) with `AppError("store_unavailable")`. Other errors pass through unchanged, and so do
 * results: the wrapper adds no state and no retries (a caller that wants to retry does).
 */
export function guardStore(store: Store): Store {
  // Keyed by the method itself, so a method replaced on the store is wrapped afresh.
  const wrapped = new WeakMap<object, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      let fn = wrapped.get(value);
      if (!fn) {
        fn = (...args: unknown[]) => {
          let out: unknown;
          try {
            out = (value as (...a: unknown[]) => unknown).apply(target, args);
          } catch (e) {
            throw asStoreError(e);
          }
          if (out instanceof Promise) return out.catch((e) => Promise.reject(asStoreError(e)));
          return out;
        };
        wrapped.set(value, fn);
      }
      return fn;
    },
  });
}

/**
 * Checks that the store answers within `timeoutMs` (readiness probes must stay fast while the
 * database is down); resolves, or rejects with `store_unavailable`.
 */
export async function probeStore(store: Store, timeoutMs = 1_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new AppError("store_unavailable", undefined, { cause: "probe timed out" })),
      timeoutMs,
    );
  });
  // One indexed read of a record that never exists: cheap, and it needs a reachable server.
  const read = store.getTenant("t_readiness_probe");
  read.catch(() => {}); // a late failure after the timeout is not an unhandled rejection
  try {
    await Promise.race([read, timeout]);
  } catch (e) {
    if (e instanceof AppError && e.code === "store_unavailable") throw e;
    throw new AppError("store_unavailable", undefined, { cause: (e as Error)?.message });
  } finally {
    clearTimeout(timer);
  }
}

/** During an outage, each kind of failure is logged at most this often (per process). */
const OUTAGE_LOG_EVERY_MS = 10_000;
const lastOutageLog = new Map<string, { at: number; suppressed: number }>();

/**
 * Logs a failed store write that the caller carries on without (an audit record, presence):
 * a warning during an outage (expected, already answered as 503 where a client waits) — at most
 * one per {@linkcode OUTAGE_LOG_EVERY_MS} for each `what`, with how many were folded in, so a
 * thousand agents' heartbeats do not flood the log — and an error otherwise.
 */
export function logStoreFailure(
  log: Pick<Logger, "warn" | "error">,
  e: unknown,
  what: string,
  fields: Record<string, unknown> = {},
  now: number = Date.now(),
): void {
  const err = (e as Error)?.message ?? String(e);
  if (!isStoreOutage(e)) return log.error({ ...fields, err }, what);
  // What the database said ("database or disk is full"): the operator's lead, never a client's.
  const cause = e instanceof AppError ? e.detail?.cause : undefined;
  if (cause !== undefined) fields = { ...fields, cause };
  const last = lastOutageLog.get(what);
  if (last && now - last.at < OUTAGE_LOG_EVERY_MS) {
    last.suppressed++;
    return;
  }
  const suppressed = last?.suppressed ?? 0;
  lastOutageLog.set(what, { at: now, suppressed: 0 });
  log.warn({ ...fields, err, ...(suppressed ? { suppressed } : {}) }, what);
}
