/**
 * The CLI's listeners: one per (127.0.0.X, port) of the plan, on loopback only, kept in step
 * with each refreshed plan — new pairs are bound, vanished pairs stop accepting. A pair that
 * cannot be bound (port in use) is reported once and tried again on every sync, so the bind
 * heals without a restart. Where the OS lacks the 127.0.0.X alias (macOS has only 127.0.0.1
 * until `ifconfig lo0 alias` adds more), the pair falls back to a free port on 127.0.0.1 and
 * the mapping is reported, so the tool can still be pointed somewhere that works.
 *
 * Every listener is a file descriptor, so the set binds at most `limit` of them (run.ts gives
 * what the process's open-file limit leaves after a reserve for the connections it carries): the
 * pairs already bound stay, then the plan's order decides, and `sync` says how many it left out,
 * for one clear message instead of a failed bind per pair. A bind that meets the descriptor limit
 * anyway (connections took them) ends that sync's binding the same way. Accepting survives
 * running out of descriptors (shared/transport/accept_loop.ts).
 * @module
 */
import { acceptLoop } from "../shared/transport/accept_loop.ts";
import { isOutOfDescriptors } from "../shared/open_files.ts";
import type { PlanEntry } from "./plan.ts";

/** What the listener set reports. */
export interface ListenerEvents {
  bound(key: string): void;
  failed(key: string, err: Error, first: boolean): void;
  /**
   * The pair's listener is closed and its port free: reported when its accept loop ended, not at
   * `close()` — the runtime keeps the socket until the pending accept is cancelled, a turn of the
   * event loop later, and a "stopped listening" said before that could be checked (or the port
   * bound again) while the kernel still had it listening.
   */
  closed(key: string): void;
  accept(conn: Deno.TcpConn, entry: PlanEntry): void;
  /** Accepting on a bound pair failed for a moment (out of descriptors); it goes on. */
  acceptFailed?(key: string, err: Error): void;
  /** The pair's alias is missing; it is served on `fallback` (127.0.0.1:port) instead. */
  fallback?(key: string, fallback: string, err: Error): void;
}

/** How a listener is opened (injectable so the alias fallback can be tested on Linux). */
export type ListenFn = (addr: { hostname: string; port: number }) => Deno.TcpListener;

/** Whether a bind failed because the address does not exist on this machine. */
export function isMissingAddress(err: Error): boolean {
  return err instanceof Deno.errors.AddrNotAvailable ||
    /not available|EADDRNOTAVAIL|Cannot assign requested address/i.test(err.message);
}

/**
 * Descriptors the CLI keeps for everything but its listeners: each connection it carries holds
 * two (the one it accepted and its tunnel to the cloud), then the plan's event stream, the spare
 * connections dialed ahead and the runtime's own. A quarter of the limit, at least 128 (64
 * connections at once) and at most 4 096.
 */
export function descriptorReserve(limit: number): number {
  return Math.min(4_096, Math.max(128, Math.floor(limit / 4)));
}

/**
 * How many listeners the CLI may hold: the open-file `limit` less the descriptors already open
 * and the reserve. Unlimited where the limit is unknown (Windows has none for sockets).
 */
export function listenerBudget(limit: number | null, open: number | null): number {
  if (limit === null) return Infinity;
  return Math.max(0, limit - (open ?? 64) - descriptorReserve(limit));
}

/** What one {@linkcode Listeners.sync} left out for want of file descriptors. */
export interface SyncResult {
  /** Pairs of the plan. */
  wanted: number;
  /** Pairs of the plan not bound because the descriptor budget (or the limit itself) ran out. */
  unbound: number;
  /** The first of them in the plan's order (the table's), or null. */
  firstUnbound: string | null;
}

/** Listeners keyed by "ip:port". */
export class Listeners {
  #live = new Map<string, Deno.TcpListener>();
  /** Each bound pair's accept loop, which ends once its socket is released. */
  #loops = new Map<string, Promise<void>>();
  #failing = new Set<string>();
  #events: ListenerEvents;
  #listen: ListenFn;
  #limit: number;

  /**
   * Creates an empty set that holds at most `limit` listeners (by default no limit).
   */
  constructor(
    events: ListenerEvents,
    listen: ListenFn = (a) => Deno.listen(a),
    limit = Infinity,
  ) {
    this.#events = events;
    this.#listen = listen;
    this.#limit = limit;
  }

  /** Pairs currently bound. */
  get bound(): string[] {
    return [...this.#live.keys()];
  }

  /**
   * Binds what the plan has and we lack, within the limit; closes what we have and the plan
   * lacks. Returns how many pairs of the plan were left out for want of descriptors.
   */
  sync(entries: PlanEntry[]): SyncResult {
    const want = new Map(entries.map((e) => [`${e.ip}:${e.port}`, e]));
    for (const [key, l] of this.#live) {
      if (want.has(key)) continue;
      l.close();
      this.#live.delete(key);
      const ended = this.#loops.get(key);
      this.#loops.delete(key);
      void (ended ?? Promise.resolve()).then(() => this.#events.closed(key));
    }
    let unbound = 0;
    let firstUnbound: string | null = null;
    let outOfDescriptors = false;
    for (const [key, entry] of want) {
      if (this.#live.has(key)) continue;
      if (outOfDescriptors || this.#live.size >= this.#limit) {
        unbound++;
        firstUnbound ??= key;
        this.#failing.delete(key);
        continue;
      }
      let l: Deno.TcpListener;
      try {
        l = this.#listen({ hostname: entry.ip, port: entry.port });
      } catch (e) {
        if (isOutOfDescriptors(e)) {
          outOfDescriptors = true;
          unbound++;
          firstUnbound ??= key;
          continue;
        }
        const fallback = isMissingAddress(e as Error) ? this.#fallback() : null;
        if (!fallback) {
          this.#events.failed(key, e as Error, !this.#failing.has(key));
          this.#failing.add(key);
          continue;
        }
        l = fallback;
        const a = l.addr as Deno.NetAddr;
        this.#events.fallback?.(key, `${a.hostname}:${a.port}`, e as Error);
      }
      this.#failing.delete(key);
      this.#live.set(key, l);
      this.#events.bound(key);
      this.#loops.set(
        key,
        acceptLoop(
          l,
          (conn) => this.#events.accept(conn, entry),
          (err) => this.#events.acceptFailed?.(key, err),
        ),
      );
    }
    return { wanted: want.size, unbound, firstUnbound };
  }

  #fallback(): Deno.TcpListener | null {
    try {
      return this.#listen({ hostname: "127.0.0.1", port: 0 });
    } catch {
      return null;
    }
  }

  /** Closes every listener. */
  close(): void {
    for (const l of this.#live.values()) l.close();
    this.#live.clear();
    this.#loops.clear();
  }
}
