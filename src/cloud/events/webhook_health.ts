/**
 * A webhook's health in one line, from what the store keeps (its newest deliveries and their
 * attempts), so every node says the same: an admin whose receiver is down sees "failing since
 * 14:02, 12 attempts in a row: connection refused" on the webhook itself instead of reading it out
 * of the delivery log, and knows whether new events are being held back (the deliverer's breaker:
 * after {@linkcode TRIP_AFTER} failed attempts in a row a node sends one attempt at a time).
 * @module
 */
import type { WebhookDelivery } from "../store/store.ts";
import { TRIP_AFTER } from "./deliverer.ts";

/** Newest deliveries read to tell a webhook's health. */
export const HEALTH_DELIVERIES = 50;

/** What the newest attempts say about a webhook's receiver. */
export interface WebhookHealth {
  /** ok: the newest attempt succeeded; failing: it failed; idle: nothing attempted yet. */
  state: "ok" | "failing" | "idle";
  /** Failed attempts in a row, newest first (within the deliveries read). */
  failedInRow: number;
  /** Whether the streak may go on past the deliveries read ("at least"). */
  atLeast: boolean;
  /** The first attempt of the failing streak (epoch ms); null unless failing. */
  failingSince: number | null;
  /** The newest attempt that succeeded (epoch ms), if any was read. */
  lastOkAt: number | null;
  /** The newest failed attempt's status (null: no answer) and error; null unless failing. */
  lastError: { status: number | null; error: string } | null;
  /** Deliveries still pending among those read, and when the soonest is due. */
  pending: number;
  nextAttemptAt: number | null;
  /** Whether the deliverer holds this webhook to one attempt at a time. */
  throttled: boolean;
}

/**
 * The health of a webhook from its newest deliveries (any order; `complete`: they are all it
 * has, so a streak reaching the oldest is not "at least").
 */
export function webhookHealth(deliveries: WebhookDelivery[], complete: boolean): WebhookHealth {
  const attempts = deliveries.flatMap((d) => d.attempts).sort((a, b) => b.at - a.at);
  const pendingDue = deliveries.filter((d) => d.state === "pending").map((d) => d.nextAttemptAt);
  let failed = 0;
  while (failed < attempts.length && !succeeded(attempts[failed])) failed++;
  const ok = attempts.find(succeeded);
  const newestFailed = failed ? attempts[0] : null;
  return {
    state: !attempts.length ? "idle" : failed ? "failing" : "ok",
    failedInRow: failed,
    atLeast: failed > 0 && failed === attempts.length && !complete,
    failingSince: failed ? attempts[failed - 1].at : null,
    lastOkAt: ok?.at ?? null,
    lastError: newestFailed ? { status: newestFailed.status, error: newestFailed.error } : null,
    pending: pendingDue.length,
    nextAttemptAt: pendingDue.length ? Math.min(...pendingDue) : null,
    throttled: failed >= TRIP_AFTER,
  };
}

/** The words of a failing streak, shared by the API's sentence and the page. */
export function failureWords(h: WebhookHealth): { streak: string; why: string; held: string } {
  const e = h.lastError!;
  const n = h.failedInRow;
  return {
    streak: `${h.atLeast ? "at least " : ""}${n} attempt${n === 1 ? "" : "s"} in a row`,
    why: e.error || (e.status === null ? "no answer" : `HTTP ${e.status}`),
    held: h.throttled
      ? "New deliveries are held back: one attempt at a time until one succeeds."
      : "",
  };
}

/** What an admin reads: one sentence. */
export function describeHealth(h: WebhookHealth, at: (ms: number) => string): string {
  if (h.state === "idle") return "Nothing attempted yet.";
  if (h.state === "ok") return `Delivering: the last attempt succeeded at ${at(h.lastOkAt!)}.`;
  const w = failureWords(h);
  return `Failing since ${at(h.failingSince!)}, ${w.streak} (${w.why}).${
    w.held ? ` ${w.held}` : ""
  }`;
}

const succeeded = (a: { status: number | null; error: string }) =>
  a.status !== null && a.error === "";
