/**
 * Webhook delivery (issue 15 items 7, 8). Every node runs this loop; each delivery is claimed
 * by one node at a time with a single-document claim (`Store.claimDelivery`, a 60 s lease), so
 * two nodes never send the same attempt, and a node that dies mid-send leaves the delivery to be
 * claimed again when the lease ends. Each attempt re-checks the URL (webhook_url.ts), POSTs the
 * event's JSON signed (signature.ts) to the checked addresses only (pinned_post.ts) with a 10 s
 * response timeout and no redirects followed, and
 * records the status; a failure is retried with exponential backoff (backoff.ts) for 24 hours.
 * The state lives in the store, so a restart goes on where it stopped. A webhook whose receiver
 * failed {@linkcode TRIP_AFTER} attempts in a row rests on this node, then gets one attempt at a
 * time until one succeeds (the pool's breaker, below). A webhook whose URL is `mailto:` is an email
 * alert: the same queue, retries and breaker, the attempt sent through the mail server
 * (mailer.ts) as the event in words (alert_mail.ts) with the camera's picture attached, and its
 * status the server's reply code.
 * @module
 */
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import { VERSION } from "../../shared/version.ts";
import type { DeliveryAttempt, Store, Webhook, WebhookDelivery } from "../store/store.ts";
import { nextAttemptAt } from "./backoff.ts";
import { SIGNATURE_HEADER, signPayload } from "./signature.ts";
import { checkWebhookUrl, type WebhookUrlPolicy } from "./webhook_url.ts";
import type { WebhookSecrets } from "./webhook_secret.ts";
import { postPinned } from "./pinned_post.ts";
import { webhookProxyFor } from "./webhook_proxy.ts";
import type { ProxyConfig } from "../../shared/transport/proxy.ts";
import { isMailTarget, mailRecipients } from "./mail_target.ts";
import { type Mailer, MailError } from "./mailer.ts";
import { alertMail, digestMail } from "./alert_mail.ts";
import { chatBody, chatDigest, sentFormat } from "./chat_message.ts";
import { digestInput, parseDigest } from "./alert_digest.ts";
import type { DigestInput } from "./alert_words.ts";

/** How long a claim keeps other nodes off a delivery (well above the response timeout). */
export const DELIVERY_LEASE_MS = 60_000;
/** How long a receiver has to answer. */
export const RESPONSE_TIMEOUT_MS = 10_000;
/** Deliveries sent at once by one node. */
const PARALLEL = 4;
/** Failed attempts in a row (any of its deliveries, on this node) after which a webhook rests. */
export const TRIP_AFTER = 5;
/** The first rest; each failed probe doubles it, up to {@linkcode MAX_REST_MS}. */
export const REST_MS = 30_000;
/** The longest rest. */
export const MAX_REST_MS = 10 * 60_000;

/** What the deliverer needs. */
export interface DelivererDeps {
  store: Store;
  secrets: WebhookSecrets;
  clock: Clock;
  /** This node's owner name (jobs/leader.ts `lockOwner`). */
  owner: string;
  policy: WebhookUrlPolicy;
  /** `--webhook-proxy`: the outbound proxy https receivers are reached through. */
  proxy?: ProxyConfig | null;
  /** The receivers reached directly, in `NO_PROXY`'s form (the cloud's `NO_PROXY`). */
  noProxy?: string;
  /** The first retry delay (`--webhook-retry`). */
  firstRetryMs: number;
  /** `--smtp`: the mail server email alerts go through; none: they fail, saying so. */
  mailer?: Mailer | null;
  /** The console's address, for the links in an email (`--public-url`). */
  consoleUrl?: () => string;
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
  let final = false;
  let nothing = false;
  const hook = await d.store.getWebhook(del.tenantId, del.webhookId);
  if (!hook) return { at, status: null, error: "webhook deleted" }; // its deliveries went with it
  // A digest (alert_digest.ts) is written from its window's events, read now.
  const digest = parseDigest(del.body);
  const window = digest ? await digestInput(d.store, hook, digest) : null;
  const consoleUrl = d.consoleUrl?.() ?? "";
  if (window?.total === 0) {
    // Its events were deleted, or the webhook no longer takes their types: nothing to say.
    const note = "nothing to send: no event of the webhook's types in the window any more";
    attempt = { at, status: null, error: "", note };
    nothing = true;
  } else if (isMailTarget(hook.url)) {
    ({ attempt, final } = await attemptMail(d, del, hook, at, window));
  } else {
    try {
      const { url, addresses } = await checkWebhookUrl(hook.url, d.policy);
      const secret = await d.secrets.secret(hook);
      // The signed JSON event, or a chat service's message (chat_message.ts).
      const format = sentFormat(hook);
      const body = window
        ? chatDigest(format, window, consoleUrl, del.body)
        : chatBody(format, del.body, consoleUrl);
      const status = await postPinned({
        url,
        addresses,
        proxy: webhookProxyFor(d.proxy, url, addresses, d.noProxy),
        body,
        timeoutMs: d.timeoutMs ?? RESPONSE_TIMEOUT_MS,
        headers: {
          "content-type": "application/json",
          "user-agent": `nanodems-connector/${VERSION} webhook`,
          [SIGNATURE_HEADER]: await signPayload(secret, body, d.clock.now()),
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
  }
  const n = del.attempts.length + 1;
  const delivered = nothing || (attempt.status !== null && attempt.error === "");
  const retryAt = delivered || final
    ? null
    : nextAttemptAt(d.firstRetryMs, n, del.createdAt, d.clock.now());
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
      note: attempt.note,
      next: next.state,
      recorded,
    },
    isMailTarget(hook.url)
      ? (delivered ? "email alert sent" : "email alert attempt failed")
      : delivered
      ? "webhook delivered"
      : "webhook attempt failed",
  );
  return attempt;
}

/**
 * One attempt of an email alert: the event in words to the `mailto:` URL's addresses; `final`
 * when the server's refusal is its last word on this message (a 5xx to the recipients or the
 * message: retrying for a day would only knock at the same door, and a server that sees it may
 * list the cloud as a spammer). Addresses refused while the others got it are in the note, not a
 * failure: a retry would send the others the same alert again.
 */
async function attemptMail(
  d: DelivererDeps,
  del: WebhookDelivery,
  hook: Webhook,
  at: number,
  window: DigestInput | null,
): Promise<{ attempt: DeliveryAttempt; final: boolean }> {
  try {
    if (!d.mailer) {
      throw new Error(
        "this node has no mail server: email alerts need --smtp (NC_SMTP_URL) on every node",
      );
    }
    const to = mailRecipients(hook.url);
    const consoleUrl = d.consoleUrl?.() ?? "";
    const mail = window
      ? digestMail(window, consoleUrl)
      : alertMail(del.body, consoleUrl, await pictureOf(d.store, del));
    const sent = await d.mailer.send(to, mail, {
      "X-Nanodems-Event": del.eventType,
      "X-Nanodems-Delivery": del.id,
    });
    const attempt: DeliveryAttempt = { at, status: sent.code, error: "" };
    if (sent.refused.length) {
      attempt.note = `not sent to ${sent.refused.join(", ")}`.slice(0, 600);
    }
    return { attempt, final: false };
  } catch (e) {
    const final = e instanceof MailError && e.permanent;
    return {
      attempt: {
        at,
        status: e instanceof MailError ? e.code : null,
        error: (e as Error).message.slice(0, 300),
        ...(final
          ? { note: "not retried: the mail server's 5xx reply is final for this message" }
          : {}),
      },
      final,
    };
  }
}

/** The camera's picture of a delivery's event (`detail.snapshot`), when the store still has it. */
async function pictureOf(store: Store, del: WebhookDelivery): Promise<Uint8Array | undefined> {
  let id: unknown;
  try {
    id = (JSON.parse(del.body) as { detail?: { snapshot?: unknown } }).detail?.snapshot;
  } catch {
    return undefined;
  }
  if (typeof id !== "string") return undefined;
  return (await store.getEventSnapshot(del.tenantId, id))?.jpeg;
}

/**
 * This node's deliveries in flight: at most {@linkcode PARALLEL}, each slot claiming and sending
 * one delivery after another on its own, so a receiver that takes its whole response timeout
 * holds one slot, not the others. A slot claims first a delivery of a webhook no slot is sending
 * to; only when none is due, another of a webhook already in flight, and one webhook never holds
 * every slot. So a tenant whose site just raised 10 000 events fills the idle slots, and another
 * tenant's delivery still goes out at once. (Before, the node claimed the four most overdue
 * deliveries, whoever's, and waited for all four before claiming again: a backlog to a slow
 * receiver delayed every tenant's webhooks by hours.)
 *
 * A breaker per webhook: after {@linkcode TRIP_AFTER} failed attempts in a row, none of its
 * deliveries is claimed for a rest ({@linkcode REST_MS}), then one probe at a time — one delivery
 * attempted as due — and each probe that fails doubles the rest (at most {@linkcode MAX_REST_MS});
 * the first that succeeds ends it and the backlog goes out at full speed. A receiver that is gone
 * for a day otherwise kept three of the node's four slots timing out for that whole day (20 000
 * queued deliveries, 30 attempts each in 24 hours, 10 s per timeout), and each tenant's
 * delivery waited for a slot behind it. The deliveries themselves keep their schedule: a rest only
 * holds them back (and a delivery past its 24 hours is marked failed at its next attempt, as
 * before). In memory, per node: each node probes on its own.
 */
export class DeliveryPool {
  readonly #d: DelivererDeps;
  readonly #parallel: number;
  /** The most slots one webhook may hold: all but one, so another webhook always has one. */
  readonly #perWebhook: number;
  readonly #inFlight = new Map<string, number>();
  readonly #slots = new Set<Promise<void>>();
  /** Webhooks failing in a row: how many, and until when they rest. */
  readonly #failing = new Map<string, { failures: number; restMs: number; restUntil: number }>();
  /** Claims one at a time, so each sees the webhooks the claims before it took. */
  #claiming: Promise<unknown> = Promise.resolve();
  #stopped = false;

  /** A pool over `d` with `parallel` slots. */
  constructor(d: DelivererDeps, parallel = PARALLEL) {
    this.#d = d;
    this.#parallel = parallel;
    this.#perWebhook = Math.max(1, parallel - 1);
  }

  /** Starts a slot in each free one; resolves when those slots found nothing more due. */
  fill(): Promise<void> {
    const started: Promise<void>[] = [];
    while (!this.#stopped && this.#slots.size < this.#parallel) {
      const slot: Promise<void> = this.#work().finally(() => this.#slots.delete(slot));
      this.#slots.add(slot);
      started.push(slot);
    }
    return Promise.all(started).then(() => {});
  }

  /** Claims nothing more; resolves when the attempts in flight have ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#slots);
  }

  async #work(): Promise<void> {
    try {
      while (!this.#stopped) {
        const claim = this.#claiming.then(() => this.#claim());
        this.#claiming = claim.catch(() => {});
        const del = await claim;
        if (!del) return;
        try {
          const attempt = await attemptDelivery(this.#d, del);
          this.#record(del, attempt);
        } finally {
          const n = this.#inFlight.get(del.webhookId)! - 1;
          if (n) this.#inFlight.set(del.webhookId, n);
          else this.#inFlight.delete(del.webhookId);
        }
      }
    } catch (e) {
      this.#d.log.warn({ err: (e as Error).message }, "webhook delivery failed");
    }
  }

  /** Whether `webhookId` is resting, or probing with its one attempt in flight. */
  #held(webhookId: string): boolean {
    const f = this.#failing.get(webhookId);
    if (!f || f.failures < TRIP_AFTER) return false;
    return f.restUntil > this.#d.clock.now() || this.#inFlight.has(webhookId);
  }

  /** Counts an attempt's outcome toward its webhook's breaker. */
  #record(del: WebhookDelivery, attempt: DeliveryAttempt): void {
    const id = del.webhookId;
    const f = this.#failing.get(id);
    if (attempt.status !== null && attempt.error === "") {
      if (f && f.failures >= TRIP_AFTER) {
        this.#d.log.info({ webhook: id, failures: f.failures }, "webhook answers again");
      }
      this.#failing.delete(id);
      return;
    }
    const now = this.#d.clock.now();
    const g = f ?? { failures: 0, restMs: 0, restUntil: 0 };
    g.failures++;
    this.#failing.set(id, g);
    if (g.failures < TRIP_AFTER) return;
    // An attempt that began before the current rest was set (one of the slots in flight when it
    // tripped) adds nothing; the first to trip it, or a failed probe, starts a longer rest.
    if (g.restUntil > attempt.at) return;
    g.restMs = g.restMs ? Math.min(MAX_REST_MS, g.restMs * 2) : REST_MS;
    g.restUntil = now + g.restMs;
    this.#d.log.warn(
      {
        webhook: id,
        tenant: del.tenantId,
        failures: g.failures,
        error: attempt.error,
        until: new Date(g.restUntil).toISOString(),
      },
      "webhook resting: its receiver failed every recent attempt; one attempt after the rest",
    );
  }

  /** The next delivery for a slot, counted in flight before the next claim starts. */
  async #claim(): Promise<WebhookDelivery | null> {
    if (this.#stopped) return null;
    const { store, owner } = this.#d;
    const busy = [...this.#inFlight.keys()];
    const held = [...this.#failing.keys()].filter((id) => this.#held(id));
    const full = busy.filter((id) => this.#inFlight.get(id)! >= this.#perWebhook);
    // A webhook no slot is sending to; else any webhook short of its share of the slots. Never
    // a resting one, and a probing one only while its probe is not in flight.
    let del = busy.length
      ? await store.claimDelivery(owner, DELIVERY_LEASE_MS, [...new Set([...busy, ...held])])
      : null;
    del ??= await store.claimDelivery(owner, DELIVERY_LEASE_MS, [...new Set([...full, ...held])]);
    if (del) this.#inFlight.set(del.webhookId, (this.#inFlight.get(del.webhookId) ?? 0) + 1);
    return del;
  }
}

/**
 * Looks for due deliveries every `everyMs` (free slots start claiming) until the returned
 * function stops it; stopping waits for the attempts in flight.
 */
export function startDeliverer(d: DelivererDeps): () => Promise<void> {
  const pool = new DeliveryPool(d);
  const timer = setInterval(() => void pool.fill(), d.everyMs ?? 1_000);
  return async () => {
    clearInterval(timer);
    await pool.stop();
  };
}
