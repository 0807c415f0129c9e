/**
 * One long-lived server-sent event stream per CLI, so what changes reaches it within about two
 * seconds instead of at its next 60 s plan refresh: `event: plan` (the new bind plan, when it
 * differs from the last one sent) and `event: revoked` (the credential was revoked or expired;
 * the stream then ends). The stream follows the store's change counter (the same one the watcher
 * reads), so a change made on another node or by the admin CLI arrives the same way.
 * @module
 */
import type { Store } from "../store/store.ts";
import type { Principal } from "../tenancy/auth.ts";
import { CHANGES_COUNTER } from "../watcher.ts";
import { REVOKED_REASON, stillValid } from "./live.ts";
import { pollingSse } from "../api/sse.ts";

/** What the stream needs. */
export interface CredentialEventsOptions {
  store: Store;
  principal: Principal;
  now: () => number;
  /** Ends the stream when the client goes away. */
  signal?: AbortSignal;
  /** The current plan, for `event: plan` (absent: only `revoked` is sent). */
  plan?: () => Promise<unknown>;
  /** How often the change counter is read (default 1 s). */
  everyMs?: number;
  /** A comment line this often keeps proxies from closing an idle stream (default 15 s). */
  keepaliveMs?: number;
}

/** The `text/event-stream` response. */
export function credentialEvents(o: CredentialEventsOptions): Response {
  let lastCounter = -1;
  let lastPlan = "";
  return pollingSse({
    signal: o.signal,
    everyMs: o.everyMs,
    keepaliveMs: o.keepaliveMs,
    step: async ({ send, stop, tick }) => {
      const counter = await o.store.incrementCounter(CHANGES_COUNTER, 0);
      const changed = counter !== lastCounter;
      // Expiry needs no change to happen: check validity every few seconds as well.
      if (changed || tick % 5 === 0) {
        if (!await stillValid(o.store, o.principal, o.now())) {
          send("revoked", { message: REVOKED_REASON });
          return stop();
        }
      }
      if (changed && o.plan) {
        const plan = JSON.stringify(await o.plan());
        if (plan !== lastPlan) send("plan", JSON.parse(plan));
        lastPlan = plan;
      }
      lastCounter = counter;
    },
  });
}
