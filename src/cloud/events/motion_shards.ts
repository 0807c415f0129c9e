/**
 * Which node watches which cameras' motion alerts. One node used to keep every subscription
 * (one leader lock), so the cameras a deployment could watch rose with `--motion-max-cameras`
 * but never with its nodes, and that node carried every pull loop alone. The cameras are now
 * split into {@linkcode MOTION_SHARDS} shards by a hash of the device id; shard `i` belongs to the
 * `i mod n`-th running node in name order (the node registry, nodes.ts), and a node watches a
 * shard's cameras only while it also holds the shard's lock — so during a hand-over (a node
 * joining, or leaving gracefully) the old owner lets go before the new one starts, and a camera
 * is never subscribed to twice. A node that dies is out of the order once its registry record is
 * stale (45 s) and its locks expire (90 s): its shards then move, as the single lock did. While
 * a node of the version before holds that single lock (a rolling upgrade), this node watches
 * nothing: that node watches every camera.
 * @module
 */
import type { Store } from "../store/store.ts";
import { JOB_LOCK_TTL_MS } from "../jobs/leader.ts";
import { isRunning } from "../nodes.ts";

/** How many parts the cameras are split into. */
export const MOTION_SHARDS = 8;
/** The leader locks' common name (`motion-watch/0` …). */
export const MOTION_LOCK = "motion-watch";

/** How long after a first "held" the one lock of the version before is asked about again. */
const LEGACY_RETRY_MS = 100;

/** The lock names of the shards (as `asLeader` names them, without `lock:`). */
export const MOTION_SHARD_LOCKS: readonly string[] = Array.from(
  { length: MOTION_SHARDS },
  (_, i) => `${MOTION_LOCK}/${i}`,
);

/** The shard of a device: FNV-1a of its id, so it never moves while the device lives. */
export function shardOf(deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % MOTION_SHARDS;
}

/** The shards that belong to `node` among the running `nodes` (names; order does not matter). */
export function shardsOf(node: string, nodes: readonly string[]): number[] {
  const names = [...new Set([...nodes, node])].sort();
  const me = names.indexOf(node);
  return Array.from({ length: MOTION_SHARDS }, (_, i) => i).filter((i) => i % names.length === me);
}

/** One node's hold on its shards. */
export class ShardClaim {
  readonly #store: Store;
  readonly #node: string;
  readonly #owner: string;
  readonly #now: () => number;
  readonly #held = new Set<number>();

  /** `node`'s claim (`owner`: its lock owner name), on `store`. */
  constructor(o: { store: Store; node: string; owner: string; now: () => number }) {
    this.#store = o.store;
    this.#node = o.node;
    this.#owner = o.owner;
    this.#now = o.now;
  }

  /**
   * Takes or renews the locks of the shards that belong to this node now, and lets go of those
   * that no longer do; returns the shards it holds.
   */
  async claim(): Promise<ReadonlySet<number>> {
    const now = this.#now();
    const running = (await this.#store.listNodes()).filter((n) => isRunning(n, now))
      .map((n) => n.name);
    // A node of the version before shards watches every camera under the one lock: while one
    // holds it, watch none (each camera would be watched twice). Taken for a moment only, so
    // the nodes of this version never keep it from each other.
    // A sibling of this version holds it for the same moment: asked again after that moment.
    const legacy = `lock:${MOTION_LOCK}`;
    const free = async () => {
      if (!(await this.#store.acquireLock(legacy, this.#owner, 1))) return false;
      await this.#store.releaseLock(legacy, this.#owner);
      return true;
    };
    const before = !(await free()) &&
      !(await new Promise((r) => setTimeout(r, LEGACY_RETRY_MS)).then(free));
    const mine = new Set(before ? [] : shardsOf(this.#node, running));
    for (let i = 0; i < MOTION_SHARDS; i++) {
      const lock = `lock:${MOTION_SHARD_LOCKS[i]}`;
      if (mine.has(i)) {
        if (await this.#store.acquireLock(lock, this.#owner, JOB_LOCK_TTL_MS)) this.#held.add(i);
        else this.#held.delete(i); // its previous owner has not let go yet
      } else if (this.#held.delete(i)) {
        await this.#store.releaseLock(lock, this.#owner);
      }
    }
    return this.#held;
  }

  /** The shards held after the last claim. */
  get held(): ReadonlySet<number> {
    return this.#held;
  }
}
