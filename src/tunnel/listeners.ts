/**
 * The CLI's listeners: one per (127.0.0.X, port) of the plan, on loopback only, kept in step
 * with each refreshed plan — new pairs are bound, vanished pairs stop accepting. A pair that
 * cannot be bound (port in use, missing loopback alias) is reported once and tried again on
 * every sync, so the bind heals without a restart.
 * @module
 */
import type { PlanEntry } from "./plan.ts";

/** What the listener set reports. */
export interface ListenerEvents {
  bound(key: string): void;
  failed(key: string, err: Error, first: boolean): void;
  closed(key: string): void;
  accept(conn: Deno.TcpConn, entry: PlanEntry): void;
}

/** Listeners keyed by "ip:port". */
export class Listeners {
  #live = new Map<string, Deno.TcpListener>();
  #failing = new Set<string>();
  #events: ListenerEvents;

  /** Creates an empty set. */
  constructor(events: ListenerEvents) {
    this.#events = events;
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
        l = Deno.listen({ hostname: entry.ip, port: entry.port });
      } catch (e) {
        this.#events.failed(key, e as Error, !this.#failing.has(key));
        this.#failing.add(key);
        continue;
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

  /** Closes every listener. */
  close(): void {
    for (const l of this.#live.values()) l.close();
    this.#live.clear();
  }
}
