/**
 * Webhook delivery (issue 15 items 7, 8). Every node runs this loop; each delivery is claimed
 * by one node at a time with a single-document claim (`Store.claimDelivery`, a 60 s lease), so
 * two nodes never send the same attempt, and a node that dies mid-send leaves the delivery to be
 * claimed again when the lease ends. Each attempt re-checks the URL (webhook_url.ts), POSTs the
 * event's JSON signed (signature.ts) to the checked addresses only (pinned_post.ts) with a 10 s
 * response timeout and no redirects followed, and
 * records the status; a failure is retried with exponential backoff (backoff.ts) for 24 hours.
 * The state lives in the store, so a restart goes on where it stopped.
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import type { DeliveryAttempt, Store, WebhookDelivery } from "../store/store.ts";
import { nextAttemptAt } from "./backoff.ts";
import { SIGNATURE_HEADER, signPayload } from "./signature.ts";
import { checkWebhookUrl, type WebhookUrlPolicy } from "./webhook_url.ts";
import type { WebhookSecrets } from "./webhook_secret.ts";
import { postPinned } from "./pinned_post.ts";

/** How long a claim keeps other nodes off a delivery (well above the response timeout). */
export const DELIVERY_LEASE_MS = 60_000;
/** How long a receiver has to answer. */
export const RESPONSE_TIMEOUT_MS = 10_000;
/** Deliveries sent at once by one node. */
const PARALLEL = 4;

/** What the deliverer needs. */
export interface DelivererDeps {
  store: Store;
  secrets: WebhookSecrets;
  clock: Clock;
  /** This node's owner name (jobs/leader.ts `lockOwner`). */
  owner: string;
  policy: WebhookUrlPolicy;
  /** The first retry delay (`--webhook-retry`). */
  firstRetryMs: number;
  log: Logger;
  /** How often the store is asked for due deliveries (default 1 s). */
  everyMs?: number;
  timeoutMs?: number;
}

/** Sends one claimed delivery once and records the attempt; returns it. */
export async function attemptDelivery(
  d: DelivererDeps,
  del: WebhookDelivery,
): Promise<DeliveryAttempt> {
  const at = d.clock.now();
  let attempt: DeliveryAttempt;
  const hook = await d.store.getWebhook(del.tenantId, del.webhookId);
  if (!hook) return { at, status: null, error: "webhook deleted" }; // its deliveries went with it
  try {
    const { url, addresses } = await checkWebhookUrl(hook.url, d.policy);
    const secret = await d.secrets.secret(hook);
    const status = await postPinned({
      url,
      addresses,
      body: del.body,
      timeoutMs: d.timeoutMs ?? RESPONSE_TIMEOUT_MS,
      headers: {
        "content-type": "application/json",
        "user-agent": `nanodems-connector/${VERSION} webhook`,
        [SIGNATURE_HEADER]: await signPayload(secret, del.body, d.clock.now()),
        "x-nanodems-event": del.eventType,
        "x-nanodems-delivery": del.id,
      },
    });
    const ok = status >= 200 && status < 300;
    attempt = {
      at,
      status,
      error: ok
        ? ""
        : status >= 300 && status < 400
        ? `HTTP ${status} (redirects are not followed)`
        : `HTTP ${status}`,
    };
  } catch (e) {
    attempt = { at, status: null, error: (e as Error).message.slice(0, 300) };
  }
  const n = del.attempts.length + 1;
  const delivered = attempt.status !== null && attempt.error === "";
  const retryAt = delivered ? null : nextAttemptAt(d.firstRetryMs, n, del.createdAt, d.clock.now());
  const next = delivered
    ? { state: "delivered" as const, nextAttemptAt: 0 }
    : retryAt === null
    ? { state: "failed" as const, nextAttemptAt: 0 }
    : { state: "pending" as const, nextAttemptAt: retryAt };
  const recorded = await d.store.finishDeliveryAttempt(del.id, d.owner, attempt, next);
  d.log[delivered ? "info" : "warn"](
    {
      delivery: del.id,
      attempt: n,
      status: attempt.status,
      error: attempt.error || undefined,
      next: next.state,
      recorded,
    },
    delivered ? "webhook delivered" : "webhook attempt failed",
  );
  return attempt;
}

/** Claims and sends due deliveries until none is left; returns how many were attempted. */
export async function deliverDue(d: DelivererDeps): Promise<number> {
  let sent = 0;
  while (true) {
    const batch: WebhookDelivery[] = [];
    for (let i = 0; i < PARALLEL; i++) {
      const del = await d.store.claimDelivery(d.owner, DELIVERY_LEASE_MS);
      if (!del) break;
      batch.push(del);
    }
    if (!batch.length) return sent;
    await Promise.all(batch.map((del) => attemptDelivery(d, del)));
    sent += batch.length;
  }
}

/** Runs {@linkcode deliverDue} every `everyMs` until the returned function stops it. */
export function startDeliverer(d: DelivererDeps): () => Promise<void> {
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const tick = () => {
    if (stopped || running) return;
    running = deliverDue(d)
      .catch((e) => d.log.warn({ err: (e as Error).message }, "webhook delivery failed"))
      .finally(() => running = null);
  };
  const timer = setInterval(tick, d.everyMs ?? 1_000);
  return async () => {
    stopped = true;
    clearInterval(timer);
    await running;
  };
}
