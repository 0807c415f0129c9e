/**
 * Sampling of refusals that need no identity. An anonymous tunnel request, a wrong admin key or
 * an RTSP player with a bad credential costs the sender nothing, while each audit row costs the
 * store and every tenant admin who reads the log; so such refusals are audited at most
 * {@link ANONYMOUS_DENY_AUDITS_PER_MINUTE} times per source address (an IPv6 /64 counting as one:
 * `address_key.ts`) per minute, per store (one budget shared by every path), and what is skipped
 * is counted in the node's log at debug.
 * @module
 */
import { addressKey } from "./address_key.ts";
import { RateLimiter } from "./rate_limit.ts";

/** How many refusals without an identity are audited per address per minute. */
export const ANONYMOUS_DENY_AUDITS_PER_MINUTE = 20;

const samplers = new WeakMap<object, { limiter: RateLimiter; now: number }>();

/**
 * Whether to audit one more identity-less refusal from `remote` at `now` (epoch ms). `scope` is
 * the store the rows would go to: the budget is per store, so every path shares it.
 */
export function auditAnonymousRefusal(scope: object, remote: string, now: number): boolean {
  let s = samplers.get(scope);
  if (!s) {
    const state = { limiter: null as unknown as RateLimiter, now };
    state.limiter = new RateLimiter(ANONYMOUS_DENY_AUDITS_PER_MINUTE, 60_000, {
      now: () => state.now,
    });
    s = state;
    samplers.set(scope, s);
  }
  s.now = now;
  return s.limiter.take(addressKey(remote) || "unknown");
}
