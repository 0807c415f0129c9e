/**
 * `/api/webhooks`: a tenant's webhooks (issue 15 item 7), admins only. Creating one checks the
 * URL (events/webhook_url.ts: 400 with the reason for a link-local, metadata, private or plain
 * http address), returns its signing secret once, and is audited, as is deleting one. Each has a
 * delivery log (attempts with status codes), a health read from its newest deliveries (the list's
 * `health`: failing since when, how many attempts in a row, why) and a "send test" that queues a
 * `webhook.test` delivery the deliverer sends like any event (counted in the tenant's budget of sends
 * by hand, tenancy/send_budget.ts: a 429 once it is spent). A `mailto:` URL makes it an email
 * alert (events/mail_target.ts): taken only when the cloud has a mail server (`--smtp`), its
 * addresses checked and stored in one form, and no signing secret (an email is not signed).
 * `format` makes an https webhook post a chat service's message (events/chat_message.ts) — by
 * default whichever the URL's host names (Slack, Discord, Teams, Google Chat), else the JSON.
 * @module
 */
import { Hono } from "hono";
import type { Clock } from "../../shared/clock.ts";
import { AppError } from "../../shared/errors.ts";
import type { Store, Webhook, WebhookDelivery } from "../store/store.ts";
import { checkWebhookUrl, WebhookUrlError, type WebhookUrlPolicy } from "../events/webhook_url.ts";
import { WebhookSecrets } from "../events/webhook_secret.ts";
import { describeHealth, HEALTH_DELIVERIES, webhookHealth } from "../events/webhook_health.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { isMailTarget, MailTargetError, normalMailTarget } from "../events/mail_target.ts";
import { webhookBody, webhookPatch } from "./schemas.ts";
import { SendBudget } from "../tenancy/send_budget.ts";
import { FORMAT_NAMES, sentFormat } from "../events/chat_message.ts";
import { describeSchedule } from "../events/schedule.ts";
import { describeDigest } from "../events/alert_digest.ts";

/** Webhooks one tenant may have (each event is sent once per webhook). */
export const MAX_WEBHOOKS_PER_TENANT = 20;

/** What the webhook routes need. */
export interface WebhookDeps {
  store: Store;
  clock: Clock;
  secrets: WebhookSecrets;
  policy: WebhookUrlPolicy;
  /** Whether this cloud sends email (`--smtp`): without it a `mailto:` URL is refused. */
  mail: boolean;
}

/** Why a `mailto:` webhook is refused on a cloud that sends no email. */
export const NO_MAIL_SERVER =
  "email alerts need this cloud's mail server: its operator starts every node with --smtp (NC_SMTP_URL); until then, use an https webhook";

/** Why an email alert takes no format. */
export const NO_MAIL_FORMAT = "format is for https webhooks: an email alert is always an email";

/**
 * A webhook URL as the audit log keeps it: the origin only (paths often carry a token); for email,
 * the addresses' domains.
 */
export function auditedUrl(url: string): string {
  if (isMailTarget(url)) {
    const domains = url.slice("mailto:".length).split(",").map((a) => a.slice(a.lastIndexOf("@")));
    return `mailto:…${[...new Set(domains)].join(",…")}`;
  }
  try {
    return `${new URL(url).origin}/…`;
  } catch {
    return "";
  }
}

const view = (w: Webhook) => ({
  id: w.id,
  kind: isMailTarget(w.url) ? "email" : "webhook",
  url: w.url,
  events: w.events,
  format: w.format ?? "auto",
  /** What its POST carries once `auto` is decided (an email: `email`). */
  sendsAs: isMailTarget(w.url) ? "email" : sentFormat(w),
  schedule: w.schedule ?? null,
  /** Its active hours in words (`Mon, Fri 18:00–08:00 (Europe/Berlin)`), or null: always. */
  activeHours: w.schedule ? describeSchedule(w.schedule) : null,
  /** How it holds back a flood (an email or chat webhook): null is the default (5 in 10 minutes). */
  digest: w.digest ?? null,
  /** That in words; null for a webhook a program reads (JSON: nothing is held back). */
  floods: describeDigest(w),
  createdAt: w.createdAt,
  createdBy: w.createdBy,
});

const deliveryView = (x: WebhookDelivery) => ({
  id: x.id,
  eventType: x.eventType,
  state: x.state,
  createdAt: x.createdAt,
  nextAttemptAt: x.state === "pending" ? x.nextAttemptAt : null,
  attempts: x.attempts,
});

/** The routes under /api (webhooks). */
export function webhookRoutes(d: WebhookDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.use("/webhooks", requireAuth(d.store, "admin"));
  app.use("/webhooks/*", requireAuth(d.store, "admin"));
  const budget = new SendBudget(d.store);
  const hook = async (tenantId: string, id: string) => {
    const w = await d.store.getWebhook(tenantId, id);
    if (!w) throw new AppError("not_found", "no such webhook");
    return w;
  };
  app.get("/webhooks", async (c) => {
    const p = c.get("principal");
    const items = [];
    for (const w of await d.store.listWebhooks(p.tenantId)) {
      const recent = await d.store.listDeliveries(p.tenantId, w.id, HEALTH_DELIVERIES);
      const health = webhookHealth(recent, recent.length < HEALTH_DELIVERIES);
      const summary = describeHealth(health, (ms) => new Date(ms).toISOString());
      items.push({ ...view(w), health: { ...health, summary } });
    }
    return c.json({ items });
  });
  app.post("/webhooks", async (c) => {
    const p = c.get("principal");
    const body = await jsonBody(c, webhookBody);
    const full = () =>
      new AppError(
        "conflict",
        `a tenant has at most ${MAX_WEBHOOKS_PER_TENANT} webhooks; delete one first`,
      );
    // A look first, so a full tenant is told before its URL is resolved; the store's create
    // holds the cap for creates sent at once.
    if ((await d.store.listWebhooks(p.tenantId)).length >= MAX_WEBHOOKS_PER_TENANT) throw full();
    let url = body.url;
    try {
      if (isMailTarget(url)) {
        if (!d.mail) throw new AppError("bad_request", NO_MAIL_SERVER);
        if ((body.format ?? "auto") !== "auto") {
          throw new AppError("bad_request", NO_MAIL_FORMAT);
        }
        url = normalMailTarget(url);
      } else await checkWebhookUrl(url, d.policy);
    } catch (e) {
      if (e instanceof WebhookUrlError || e instanceof MailTargetError) {
        throw new AppError("bad_request", e.message);
      }
      throw e;
    }
    const w = await d.store.createWebhookUnder({
      tenantId: p.tenantId,
      url,
      events: [...new Set(body.events)],
      format: body.format ?? "auto",
      schedule: body.schedule ?? null,
      digest: body.digest ?? null,
      secretSeed: WebhookSecrets.seed(),
      createdBy: p.actor,
    }, MAX_WEBHOOKS_PER_TENANT);
    if (!w) throw full();
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "webhook.create",
      target: w.id,
      detail: {
        url: auditedUrl(w.url),
        events: w.events,
        format: w.format ?? "auto",
        schedule: w.schedule ?? null,
        digest: w.digest ?? null,
      },
    });
    if (isMailTarget(w.url)) {
      return c.json({
        ...view(w),
        note: `Email alerts go to ${w.url.slice("mailto:".length).replaceAll(",", ", ")}. ` +
          "Send a test to check that they arrive.",
      }, 201);
    }
    const chat = sentFormat(w);
    return c.json({
      ...view(w),
      secret: await d.secrets.secret(w),
      note: chat === "json"
        ? "Copy the secret now: it is not shown again. Verify X-Nanodems-Signature with it."
        : `Alerts go as ${FORMAT_NAMES[chat]} messages. Send a test to check that they arrive. ` +
          "(The secret still signs each POST, for a receiver that checks X-Nanodems-Signature.)",
    }, 201);
  });
  app.patch("/webhooks/:id", async (c) => {
    const p = c.get("principal");
    const before = await hook(p.tenantId, c.req.param("id"));
    const body = await jsonBody(c, webhookPatch);
    if (isMailTarget(before.url) && (body.format ?? "auto") !== "auto") {
      throw new AppError("bad_request", NO_MAIL_FORMAT);
    }
    const w = await d.store.updateWebhook(p.tenantId, before.id, {
      ...(body.events ? { events: [...new Set(body.events)] } : {}),
      ...(body.format ? { format: body.format } : {}),
      ...(body.schedule !== undefined ? { schedule: body.schedule } : {}),
      ...(body.digest !== undefined ? { digest: body.digest } : {}),
    });
    if (!w) throw new AppError("not_found", "no such webhook");
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "webhook.update",
      target: w.id,
      detail: {
        url: auditedUrl(w.url),
        from: {
          events: before.events,
          format: before.format ?? "auto",
          schedule: before.schedule ?? null,
          digest: before.digest ?? null,
        },
        to: {
          events: w.events,
          format: w.format ?? "auto",
          schedule: w.schedule ?? null,
          digest: w.digest ?? null,
        },
      },
    });
    return c.json(view(w));
  });
  app.delete("/webhooks/:id", async (c) => {
    const p = c.get("principal");
    const w = await hook(p.tenantId, c.req.param("id"));
    if (!(await d.store.deleteWebhook(p.tenantId, w.id))) {
      throw new AppError("not_found", "no such webhook");
    }
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "webhook.delete",
      target: w.id,
      detail: { url: auditedUrl(w.url) },
    });
    return c.json({ deleted: w.id });
  });
  app.get("/webhooks/:id/deliveries", async (c) => {
    const p = c.get("principal");
    const w = await hook(p.tenantId, c.req.param("id"));
    return c.json({ items: (await d.store.listDeliveries(p.tenantId, w.id)).map(deliveryView) });
  });
  app.post("/webhooks/:id/test", async (c) => {
    const p = c.get("principal");
    const w = await hook(p.tenantId, c.req.param("id"));
    await budget.spend(p.tenantId);
    const id = `${w.id}:test:${crypto.randomUUID().slice(0, 8)}`;
    const body = JSON.stringify({
      id: `evt_test_${id.slice(-8)}`,
      type: "webhook.test",
      at: new Date(d.clock.now()).toISOString(),
      tenantId: p.tenantId,
      subject: { name: "Test delivery" },
      actor: p.actor,
      detail: {},
    });
    await d.store.createDelivery({
      id,
      tenantId: p.tenantId,
      webhookId: w.id,
      eventType: "webhook.test",
      body,
    });
    return c.json({ queued: id }, 202);
  });
  return app;
}
