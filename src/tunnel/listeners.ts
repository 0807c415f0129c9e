/**
 * The CLI's listeners: one per (127.0.0.X, port) of the plan, on loopback only, kept in step
 * with each refreshed plan — new pairs are bound, vanished pairs stop accepting. A pair that
 * cannot be bound (port in use) is reported once and tried again on every sync, so the bind
 * heals without a restart. Where the OS lacks the 127.0.0.X alias (macOS has only 127.0.0.1
 * until `ifconfig lo0 alias` adds more), the pair falls back to a free port on 127.0.0.1 and
 * the mapping is reported, so the tool can still be pointed somewhere that works.
 * @module
 */
import type { PlanEntry } from "./plan.ts";

/** What the listener set reports. */
export interface ListenerEvents {
  bound(key: string): void;
  failed(key: string, err: Error, first: boolean): void;
  closed(key: string): void;
  accept(conn: Deno.TcpConn, entry: PlanEntry): void;
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

/** Listeners keyed by "ip:port". */
export class Listeners {
  #live = new Map<string, Deno.TcpListener>();
  #failing = new Set<string>();
  #events: ListenerEvents;
  #listen: ListenFn;

  /** Creates an empty set. */
  constructor(events: ListenerEvents, listen: ListenFn = (a) => Deno.listen(a)) {
    this.#events = events;
    this.#listen = listen;
  }

  /** Pairs currently bound. */
  get bound(): string[] {
    return [...this.#live.keys()];
  }

  /** Binds what the plan has and we lack; closes what we have and the plan lacks. */
  sync(entries: PlanEntry[]): void {
    const want = new Map(entries.map((e) => [`${e.ip}:${e.port}`, e]));
    for (const [key, l] of this.#live) {
      if (want.has(key)) continue;
      l.close();
      this.#live.delete(key);
      this.#events.closed(key);
    }
    for (const [key, entry] of want) {
      if (this.#live.has(key)) continue;
      let l: Deno.TcpListener;
      try {
        l = this.#listen({ hostname: entry.ip, port: entry.port });
      } catch (e) {
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
      (async () => {
        try {
          for await (const conn of l) this.#events.accept(conn, entry);
        } catch { /* closed */ }
      })();
    }
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
  }
}
