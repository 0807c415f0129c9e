/**
 * How many of a node's motion watchers subscribe at the same time. A node that starts, takes over
 * a dead sibling's shards, or sees a site with hundreds of cameras come back online would
 * otherwise start every one of those subscriptions in the same tick: hundreds of tunnels opened
 * through one agent at once, each a clock, a capabilities and a pull-point request to a small
 * embedded camera, all within the same 25 s deadline — and every one that missed it failing and
 * trying again together. Here a watcher takes a slot before it subscribes and gives it back once
 * subscribed (or failed); the next in line takes it. Waiting is not subscribing: the deadline
 * starts with the slot. A subscription's pulls afterwards take no slot.
 *
 * Two lines, served in order: first the watchers that have not failed since they last
 * subscribed (a camera switched on, a node's start), then those trying again after a failure.
 * Cameras that are off line fail slowly (a dial or the deadline) and try again every few minutes;
 * in one line with the others, hundreds of them would keep the slots busy and a camera just
 * switched on would wait behind them.
 *
 * Within a line the slots go round the tenants, and within a tenant round its sites, oldest
 * waiter first in each site. One site with hundreds of cameras that fail slowly (an unplugged
 * switch behind a live agent: each fails only when its dial times out) would otherwise keep every
 * slot busy for as many dial timeouts as it has cameras over the slots — minutes at a node's
 * start, with every other tenant's cameras queued behind it. Now the next slot given back goes to
 * the next tenant with a camera waiting.
 * @module
 */

/** Cameras a node subscribes to at once, by default (`--motion-subscribe-concurrency`). */
export const SUBSCRIBE_CONCURRENCY = 16;

/** Whose camera a watcher watches: the slots go round tenants, then their sites. */
export interface SlotOwner {
  tenantId: string;
  siteId: string;
}

/** One waiting caller. */
interface Waiter {
  grant(): void;
}

/** One line: waiters by tenant, then by site, each map in the order it is next served. */
type Line = Map<string, Map<string, Waiter[]>>;

const NOBODY: SlotOwner = { tenantId: "", siteId: "" };

/** A counting gate with two lines (see the module), whose waits end when their signal aborts. */
export class SubscribeSlots {
  readonly #max: number;
  #taken = 0;
  #waiting = 0;
  readonly #first: Line = new Map();
  readonly #retrying: Line = new Map();

  /** At most `max` (≥ 1) holders at once. */
  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`slots: ${max}`);
    this.#max = max;
  }

  /** Slots held now. */
  get taken(): number {
    return this.#taken;
  }

  /** Callers waiting for a slot now. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Waits for a slot — behind every waiter that is not `retrying` when it is, and taking turns
   * with the other tenants and sites (the module) — and resolves to the function that gives it
   * back (once; a second call does nothing), or to null when `signal` aborts first (then no slot
   * is held).
   */
  take(
    signal: AbortSignal,
    retrying = false,
    owner: SlotOwner = NOBODY,
  ): Promise<(() => void) | null> {
    if (signal.aborted) return Promise.resolve(null);
    if (this.#taken < this.#max && this.#waiting === 0) {
      this.#taken++;
      return Promise.resolve(this.#giver());
    }
    const line = retrying ? this.#retrying : this.#first;
    return new Promise((resolve) => {
      const entry: Waiter = {
        grant: () => {
          signal.removeEventListener("abort", leave);
          resolve(this.#giver());
        },
      };
      const leave = () => {
        if (leaveLine(line, owner, entry)) this.#waiting--;
        resolve(null);
      };
      signal.addEventListener("abort", leave, { once: true });
      joinLine(line, owner, entry);
      this.#waiting++;
    });
  }

  /** A slot just taken (counted): its one-time release. */
  #giver(): () => void {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const next = nextOf(this.#first) ?? nextOf(this.#retrying);
      // Handed straight to the next in line: the count stays.
      if (next) {
        this.#waiting--;
        next.grant();
      } else this.#taken--;
    };
  }
}

/** Puts `w` last in its site's queue (a tenant or site not waiting yet goes last in turn). */
function joinLine(line: Line, owner: SlotOwner, w: Waiter): void {
  let sites = line.get(owner.tenantId);
  if (!sites) line.set(owner.tenantId, sites = new Map());
  let queue = sites.get(owner.siteId);
  if (!queue) sites.set(owner.siteId, queue = []);
  queue.push(w);
}

/** Takes `w` out of its line; false when it is not there (granted already). */
function leaveLine(line: Line, owner: SlotOwner, w: Waiter): boolean {
  const sites = line.get(owner.tenantId);
  const queue = sites?.get(owner.siteId);
  const i = queue?.indexOf(w) ?? -1;
  if (!sites || !queue || i < 0) return false;
  queue.splice(i, 1);
  if (queue.length === 0) sites.delete(owner.siteId);
  if (sites.size === 0) line.delete(owner.tenantId);
  return true;
}

/**
 * The waiter whose turn it is: the oldest of the first site of the first tenant. That site goes
 * last among its tenant's and that tenant last among the line's, while they have waiters left.
 */
function nextOf(line: Line): Waiter | null {
  for (const [tenantId, sites] of line) {
    for (const [siteId, queue] of sites) {
      const w = queue.shift()!;
      sites.delete(siteId);
      if (queue.length) sites.set(siteId, queue);
      line.delete(tenantId);
      if (sites.size) line.set(tenantId, sites);
      return w;
    }
  }
  return null;
}
