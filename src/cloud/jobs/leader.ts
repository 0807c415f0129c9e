/**
 * Leader election for background jobs (guide §5.4): a job that must not run on two nodes at
 * once (it would double-count) runs only on the node that holds its named lock. Every node
 * tries on every tick; the store's `acquireLock` ("mine or expired") lets exactly one win and
 * lets the holder renew, so leadership is sticky while the holder is healthy and moves to
 * another node once a dead holder's lease expires. A node that stops gracefully resigns, so a
 * restarted or remaining node leads on its next tick instead of 90 s later.
 * @module
 */
import type { Store } from "../store/store.ts";

/** How long a job's lock lives without renewal (the guide's 90 s). */
export const JOB_LOCK_TTL_MS = 90_000;

/** A unique owner name for this process: `node/pid/random`. */
export function lockOwner(node: string): string {
  return `${node}/${Deno.pid}/${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Runs `fn` when `owner` acquires or renews the lock `lock:<name>`; returns whether it ran.
 * The lock is kept (not released) afterwards, so the same node leads the next tick.
 */
export async function asLeader(
  store: Store,
  name: string,
  owner: string,
  fn: () => Promise<void>,
  ttlMs = JOB_LOCK_TTL_MS,
): Promise<boolean> {
  if (!(await store.acquireLock(`lock:${name}`, owner, ttlMs))) return false;
  await fn();
  return true;
}

/**
 * Gives up the locks `lock:<name>` this `owner` holds (a graceful stop), so the next node to try
 * leads at once; a lock another owner holds is untouched. A store error is ignored: the lease
 * then expires as after a crash.
 */
export async function resign(
  store: Store,
  names: readonly string[],
  owner: string,
): Promise<void> {
  await Promise.all(names.map((n) => store.releaseLock(`lock:${n}`, owner).catch(() => {})));
}

/** A leader-locked job run on every node's schedule ({@linkcode startLeaderTicks}). */
export interface LeaderTicks {
  store: Store;
  /** This node's lock owner name ({@linkcode lockOwner}). */
  owner: string;
  /** The locks `run` may take (`asLeader` names): resigned when the ticks stop. */
  locks: readonly string[];
  /** One tick: tries to lead and does the job if it does; must not reject (log instead). */
  run: () => Promise<unknown>;
  /** The schedule every node keeps (the lock decides who does the work). */
  everyMs: number;
  /** A first tick this soon after start (catching up after downtime); absent: none. */
  firstAfterMs?: number;
}

/**
 * Runs `run` every `everyMs` (a slow tick is not stacked on) until the returned function stops
 * it; stopping waits for a tick in flight and then resigns `locks`, so another node, or this one
 * restarted, leads on its next tick.
 */
export function startLeaderTicks(o: LeaderTicks): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = o.run().finally(() => running = null);
  };
  const first = o.firstAfterMs === undefined ? undefined : setTimeout(tick, o.firstAfterMs);
  const timer = setInterval(tick, o.everyMs);
  return async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
    await running;
    await resign(o.store, o.locks, o.owner);
  };
}
