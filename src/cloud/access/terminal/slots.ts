/**
 * Concurrent terminal sessions on this node, counted per user and per device, so the tenant's
 * limits hold: a session takes a slot before the device is dialed and gives it back when it ends.
 * (Counted per node: with several nodes each node enforces the limits for its own sessions.)
 * @module
 */
import { AppError } from "../../../shared/errors.ts";
import type { TerminalPolicy } from "../../store/store.ts";

/** The slot counters. */
export class TerminalSlots {
  #byUser = new Map<string, number>();
  #byDevice = new Map<string, number>();

  /**
   * Takes a slot for (user, device) or throws `terminal_limit` naming the limit reached;
   * returns the function that gives it back (safe to call twice).
   */
  take(user: string, deviceId: string, p: Pick<TerminalPolicy, "maxPerUser" | "maxPerDevice">) {
    const u = this.#byUser.get(user) ?? 0;
    const d = this.#byDevice.get(deviceId) ?? 0;
    if (u >= p.maxPerUser) {
      throw new AppError(
        "terminal_limit",
        `terminal session limit reached: at most ${p.maxPerUser} concurrent sessions per user`,
      );
    }
    if (d >= p.maxPerDevice) {
      throw new AppError(
        "terminal_limit",
        `terminal session limit reached: at most ${p.maxPerDevice} concurrent sessions per device`,
      );
    }
    this.#byUser.set(user, u + 1);
    this.#byDevice.set(deviceId, d + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      dec(this.#byUser, user);
      dec(this.#byDevice, deviceId);
    };
  }

  /** Sessions of a user (for tests and status). */
  ofUser(user: string): number {
    return this.#byUser.get(user) ?? 0;
  }
}

function dec(m: Map<string, number>, k: string): void {
  const n = (m.get(k) ?? 1) - 1;
  if (n <= 0) m.delete(k);
  else m.set(k, n);
}
