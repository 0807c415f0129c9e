/**
 * Device reachability (issue 15 item 5): the agent TCP-connects each allowlisted (host, port) of
 * its site on a schedule (jittered, a few at a time, short timeout) and tells the cloud only what
 * changed, so a site whose devices stay up sends nothing. Only pairs on the allowlist are ever
 * dialled: a cloud cannot turn this into a sweep of the LAN. The view survives reconnects; after
 * each Welcome the agent sends it whole once, so a cloud node that missed changes while the
 * agent was away catches up.
 * @module
 */
import type { PortReachability, ReachabilityReport } from "../shared/protocol/control.ts";
import type { Allowlist, Pair } from "./allowlist.ts";

/** Default time between two rounds of checks. */
export const REACHABILITY_INTERVAL_MS = 60_000;
/** Connects in flight at once: at least this many... */
export const REACHABILITY_CONCURRENCY = 8;
/** ...and at most this many, however big the site. */
export const REACHABILITY_MAX_CONCURRENCY = 64;
/** How long one connect may take before the pair counts as down. */
export const REACHABILITY_TIMEOUT_MS = 3_000;
/**
 * The most pairs one report message carries; a bigger view or round goes as several. The cloud
 * reads at most 4 096 pairs of one message, and records a message in steps, so a site of 10,000
 * cameras is reported whole and its node never holds a message's worth of writes at once.
 */
export const REPORT_CHUNK = 1_000;

/** Dials (host, port); resolves when connected (the connection is closed at once), else throws. */
export type Probe = (host: string, port: number, timeoutMs: number) => Promise<void>;

/** What the monitor needs. */
export interface ReachabilityOptions {
  allowlist: Allowlist;
  probe: Probe;
  /** Time between rounds (each one jittered by ±20 %). */
  intervalMs?: number;
  /** Connects in flight at once (default: {@linkcode roundConcurrency} of each round). */
  concurrency?: number;
  timeoutMs?: number;
  now?: () => number;
  /** Random number in [0, 1) for the jitter. */
  random?: () => number;
}

const key = (p: Pair) => `${p.host.toLowerCase()}|${p.port}`;

/** The delay before the next round: `intervalMs` ± 20 %, never below 100 ms. */
export function jittered(intervalMs: number, random: () => number): number {
  return Math.max(100, Math.round(intervalMs * (0.8 + 0.4 * random())));
}

/**
 * Connects in flight for a round of `pairs`: enough that a round in which every pair times out
 * still ends within one interval, from 8 up to 64. At a fixed 8, a site of 20 000 pairs whose
 * switch went down took about two hours per round (20 000 × 3 s / 8); at 64, 16 minutes.
 */
export function roundConcurrency(pairs: number, intervalMs: number, timeoutMs: number): number {
  const needed = Math.ceil((pairs * timeoutMs) / Math.max(intervalMs, 1));
  return Math.min(REACHABILITY_MAX_CONCURRENCY, Math.max(REACHABILITY_CONCURRENCY, needed));
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function boundedEach<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The agent's reachability view and its schedule. */
export class ReachabilityMonitor {
  readonly #o: Required<Omit<ReachabilityOptions, "concurrency">> & { concurrency?: number };
  readonly #state = new Map<string, PortReachability>();
  #send: ((r: ReachabilityReport) => void) | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;

  /** A monitor; nothing runs until {@linkcode start}. */
  constructor(o: ReachabilityOptions) {
    this.#o = {
      intervalMs: REACHABILITY_INTERVAL_MS,
      timeoutMs: REACHABILITY_TIMEOUT_MS,
      now: Date.now,
      random: Math.random,
      ...o,
    };
  }

  /** Starts the schedule (a first round soon after start). */
  start(): void {
    this.#stopped = false;
    this.#schedule(Math.min(1_000, this.#o.intervalMs));
  }

  /** Stops the schedule; resolves when a round in flight has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** A control stream is up: sends it the whole view now and every change from now on. */
  attach(send: (r: ReachabilityReport) => void): void {
    this.#send = send;
    this.#report(this.view(), true);
  }

  /** The control stream is gone: changes are kept until the next {@linkcode attach}. */
  detach(): void {
    this.#send = null;
  }

  /** Checks sooner (the allowlist changed): the next round starts within a second. */
  soon(): void {
    if (!this.#stopped && !this.#running) this.#schedule(Math.min(1_000, this.#o.intervalMs));
  }

  /** The current view: the last state of every allowlisted pair checked so far. */
  view(): PortReachability[] {
    return [...this.#state.values()];
  }

  /** One round: checks every allowlisted pair; returns (and sends) what changed. */
  async checkOnce(): Promise<PortReachability[]> {
    const pairs = this.#o.allowlist.entries();
    const wanted = new Set(pairs.map(key));
    for (const k of this.#state.keys()) if (!wanted.has(k)) this.#state.delete(k);
    const changes: PortReachability[] = [];
    const limit = this.#o.concurrency ??
      roundConcurrency(pairs.length, this.#o.intervalMs, this.#o.timeoutMs);
    await boundedEach(pairs, limit, async (p) => {
      let error = "";
      try {
        await this.#o.probe(p.host, p.port, this.#o.timeoutMs);
      } catch (e) {
        error = (e as Error).message || "connect failed";
      }
      if (!this.#o.allowlist.allows(p.host, p.port)) return; // removed meanwhile
      const up = error === "";
      const prev = this.#state.get(key(p));
      if (prev && prev.up === up) {
        prev.error = error;
        return;
      }
      const s: PortReachability = {
        host: p.host,
        port: p.port,
        up,
        sinceMs: this.#o.now(),
        error,
      };
      this.#state.set(key(p), s);
      changes.push(s);
    });
    this.#report(changes, false);
    return changes;
  }

  /** Sends `ports` (nothing when empty) in messages of at most {@linkcode REPORT_CHUNK}. */
  #report(ports: PortReachability[], full: boolean): void {
    for (let i = 0; i < ports.length && this.#send; i += REPORT_CHUNK) {
      this.#send({ ports: ports.slice(i, i + REPORT_CHUNK), full });
    }
  }

  #schedule(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#running = this.checkOnce().then(() => {}, () => {}).finally(() => {
        this.#running = null;
        if (!this.#stopped) this.#schedule(jittered(this.#o.intervalMs, this.#o.random));
      });
    }, ms);
  }
}
