/**
 * Concurrent terminal sessions counted in the store, per user and per device, so the tenant's
 * limits hold across every cloud node: a session takes a slot before the device is dialed and
 * gives it back when it ends.
 *
 * A limit of K is K numbered slots, each a store lock (`acquireLock`: one single-document
 * "mine or expired" write, no transaction): `terminal:u:{tenant}:{user}:{i}` and
 * `terminal:d:{device}:{i}` for i < K. A session holds one of each, as a lease it renews while it
 * runs. A node killed mid-session cannot give its slots back; their leases expire (at most
 * {@linkcode SLOT_LEASE_MS}) and the janitor removes the records. A crash between taking the
 * user slot and the device slot leaves only a user slot that expires the same way. Lowering a
 * limit applies to new sessions (sessions on higher-numbered slots keep them until they end).
 * @module
 */
import { AppError } from "../../../shared/errors.ts";
import { newId } from "../../../shared/ids.ts";
import type { Logger } from "../../../shared/log.ts";
import type { Store, TerminalPolicy } from "../../store/store.ts";

/** How long a slot outlives its last renewal (a killed node's sessions free within this). */
export const SLOT_LEASE_MS = 60_000;
/** How often a running session renews its slots. */
const RENEW_MS = SLOT_LEASE_MS / 3;

/** Takes the first free slot of `prefix:0 … prefix:(max-1)` for `owner`; its name, or null. */
async function takeOne(store: Store, prefix: string, max: number, owner: string) {
  for (let i = 0; i < max; i++) {
    const name = `${prefix}:${i}`;
    if (await store.acquireLock(name, owner, SLOT_LEASE_MS)) return name;
  }
  return null;
}

/** The slot counters, in the store every node shares. */
export class TerminalSlots {
  #store: Store;
  #log: Logger | undefined;

  /** Counts in `store`; renewal failures go to `log`. */
  constructor(store: Store, log?: Logger) {
    this.#store = store;
    this.#log = log;
  }

  /**
   * Takes a slot for (user, device) in `tenantId` or throws `terminal_limit` naming the limit
   * reached; returns the function that gives it back (safe to call twice; it settles once the
   * store has the slots back, and never rejects: a slot not given back expires).
   */
  async take(
    tenantId: string,
    user: string,
    deviceId: string,
    p: Pick<TerminalPolicy, "maxPerUser" | "maxPerDevice">,
  ): Promise<() => Promise<void>> {
    const store = this.#store;
    const owner = newId("ts");
    const userSlot = await takeOne(store, `terminal:u:${tenantId}:${user}`, p.maxPerUser, owner);
    if (!userSlot) {
      throw new AppError(
        "terminal_limit",
        `terminal session limit reached: at most ${p.maxPerUser} concurrent sessions per user`,
      );
    }
    let deviceSlot: string | null;
    try {
      deviceSlot = await takeOne(store, `terminal:d:${deviceId}`, p.maxPerDevice, owner);
    } catch (e) {
      await store.releaseLock(userSlot, owner).catch(() => {}); // else its lease expires
      throw e;
    }
    if (!deviceSlot) {
      await store.releaseLock(userSlot, owner).catch(() => {});
      throw new AppError(
        "terminal_limit",
        `terminal session limit reached: at most ${p.maxPerDevice} concurrent sessions per device`,
      );
    }
    const slots = [userSlot, deviceSlot];
    const renew = setInterval(() => {
      for (const name of slots) {
        store.acquireLock(name, owner, SLOT_LEASE_MS).then((mine) => {
          if (!mine) this.#log?.warn({ slot: name }, "terminal slot lease lost (store outage?)");
        }).catch((e) =>
          this.#log?.warn({ slot: name, err: (e as Error).message }, "terminal slot not renewed")
        );
      }
    }, RENEW_MS);
    let given: Promise<void> | null = null;
    return () => {
      clearInterval(renew);
      given ??= Promise.all(
        slots.map((name) => store.releaseLock(name, owner).catch(() => {})), // else it expires
      ).then(() => {});
      return given;
    };
  }
}
