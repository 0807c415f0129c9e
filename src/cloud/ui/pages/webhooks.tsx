/**
 * Webhooks (`/webhooks`, admins, issue 15 item 7): add one (URL and the event types it wants;
 * the signing secret is shown once), and per webhook its health (delivering, or failing since
 * when, how many attempts in a row and why), "Send test", "Delete" and its delivery log (each
 * attempt's time and status code, the next retry while one is pending). With the cloud's mail
 * server (`--smtp`) the same list takes `mailto:` addresses: email alerts. An email or chat
 * webhook chooses how it holds back a flood (the digest).
 * @module
 */
import {
  EVENT_TYPES,
  type EventType,
  type Store,
  WEBHOOK_FORMATS,
  type WebhookDelivery,
  type WebhookDigest,
  type WebhookSchedule,
} from "../../store/store.ts";
import { DAY_NAMES, describeSchedule } from "../../events/schedule.ts";
import { isMailTarget } from "../../events/mail_target.ts";
import { FORMAT_NAMES, sentFormat } from "../../events/chat_message.ts";
import { describeDigest, readByPerson } from "../../events/alert_digest.ts";
import type { UiContext } from "../context.ts";
import { At, DialogButtons, Empty, Layout, Table } from "../layout.tsx";
import { EVENT_LABELS } from "../../events/labels.ts";
import {
  failureWords,
  HEALTH_DELIVERIES,
  type WebhookHealth,
  webhookHealth,
} from "../../events/webhook_health.ts";

/** Deliveries shown per webhook. */
const LOG_ROWS = 10;

/** The webhook's health in one line (events/webhook_health.ts). */
function Health(props: { h: WebhookHealth }) {
  const h = props.h;
  if (h.state === "idle") return <p class="muted" data-health="idle">Nothing attempted yet.</p>;
  if (h.state === "ok") {
    return (
      <p data-health="ok">
        <span class="status online">Delivering:</span> the last attempt succeeded{" "}
        <At at={h.lastOkAt!} />.
      </p>
    );
  }
  const w = failureWords(h);
  return (
    <p data-health="failing" role="status">
      <span class="status offline">Failing</span> since <At at={h.failingSince!} />, {w.streak}:
      {" "}
      <span class="mono">{w.why}</span>.{w.held ? ` ${w.held}` : null}
      {h.nextAttemptAt !== null
        ? (
          <>
            {" "}Next attempt <At at={h.nextAttemptAt} />.
          </>
        )
        : null}
    </p>
  );
}

/** The floods a webhook may choose on the page (the API takes any each and window it allows). */
const DIGEST_CHOICES: (WebhookDigest | null)[] = [
  null,
  { each: 10, minutes: 10 },
  { each: 5, minutes: 30 },
  { each: 20, minutes: 60 },
  "off",
];

/** A flood choice in words. */
function digestWords(d: WebhookDigest | null): string {
  if (d === null) return "5 in 10 minutes on their own, then one summary (default)";
  if (d === "off") return "every event on its own, however many";
  return `${d.each} in ${d.minutes} minutes on their own, then one summary`;
}

/**
 * How an email or chat webhook holds back a flood (events/alert_digest.ts): its own choice is
 * kept in the list when the API set one the page does not offer. `id` makes the ids unique.
 */
function DigestChoice(props: { id: string; digest: WebhookDigest | null }) {
  const key = (d: WebhookDigest | null) => JSON.stringify(d);
  const choices = DIGEST_CHOICES.some((d) => key(d) === key(props.digest))
    ? DIGEST_CHOICES
    : [...DIGEST_CHOICES, props.digest];
  return (
    <>
      <label for={`${props.id}-digest`}>In a flood (email and chat)</label>
      <select id={`${props.id}-digest`} name="digest" data-type="json">
        {choices.map((d) => (
          <option key={key(d)} value={key(d)} selected={key(d) === key(props.digest)}>
            {digestWords(d)}
          </option>
        ))}
      </select>
    </>
  );
}

/**
 * A webhook's active hours: from, to, the days, the zone (empty times: always). `id` makes the
 * fields' ids unique on the page.
 */
function ScheduleChoice(props: { id: string; schedule: WebhookSchedule | null }) {
  const s = props.schedule;
  return (
    <fieldset>
      <legend>Active hours (optional: empty means always)</legend>
      <div class="inline" style="align-items:end">
        <div>
          <label for={`${props.id}-from`}>From</label>
          <input id={`${props.id}-from`} name="schedule.from" type="time" value={s?.from ?? ""} />
        </div>
        <div>
          <label for={`${props.id}-to`}>To</label>
          <input id={`${props.id}-to`} name="schedule.to" type="time" value={s?.to ?? ""} />
        </div>
        <div>
          <label for={`${props.id}-tz`}>Time zone</label>
          <input
            id={`${props.id}-tz`}
            name="schedule.timeZone"
            list="time-zones"
            value={s?.timeZone ?? ""}
            data-default-tz
          />
        </div>
      </div>
      {DAY_NAMES.map((name, day) => (
        <label style="font-weight:400;display:inline-block;margin-right:.75rem">
          <input
            type="checkbox"
            name="schedule.days"
            value={String(day)}
            data-type="list"
            checked={s ? s.days.includes(day) : true}
          />{" "}
          {name}
        </label>
      ))}
    </fieldset>
  );
}

/** The event types to tick, those in `checked` ticked. */
function EventChoice(props: { checked: readonly EventType[] }) {
  return (
    <fieldset>
      <legend>Events</legend>
      {EVENT_TYPES.map((type) => (
        <label style="font-weight:400">
          <input
            type="checkbox"
            name="events"
            value={type}
            data-type="list"
            checked={props.checked.includes(type)}
          />{" "}
          {EVENT_LABELS[type]} <code>{type}</code>
        </label>
      ))}
    </fieldset>
  );
}

function Attempts(props: { d: WebhookDelivery }) {
  return (
    <>
      {props.d.attempts.map((a, i) => (
        <div class="mono" data-attempt={i + 1}>
          #{i + 1} <At at={a.at} /> {a.status ?? "no answer"}
          {a.error ? <span class="muted">{` ${a.error}`}</span> : null}
          {a.note ? <span class="muted" data-note>{` (${a.note})`}</span> : null}
        </div>
      ))}
    </>
  );
}

/** The page. */
export async function WebhooksPage(props: { ctx: UiContext; store: Store; mail: boolean }) {
  const t = props.ctx.principal.tenantId;
  const hooks = await props.store.listWebhooks(t);
  const logs = new Map<string, WebhookDelivery[]>();
  for (const h of hooks) {
    logs.set(h.id, await props.store.listDeliveries(t, h.id, HEALTH_DELIVERIES));
  }
  return (
    <Layout ctx={props.ctx} title="Webhooks and email" active="/events">
      <p>
        <a href="/events">← Events</a>
      </p>
      <h1>Webhooks and email</h1>
      <p class="muted">
        Each event of the chosen types is POSTed as JSON to the URL, signed in the{" "}
        <code>X-Nanodems-Signature</code>{" "}
        header (see README, "Reachability, events and webhooks"); a Slack, Discord, Microsoft Teams
        or Google Chat incoming-webhook URL gets a message in the channel instead (by default at
        most 5 in 10 minutes; the others of those minutes in one summary at their end: "In a flood"
        chooses). A failed delivery is retried with exponential backoff for 24 hours. URLs must be
        https and must not point at link-local, metadata or private addresses. {props.mail
          ? (
            <>
              For email, enter <code>mailto:</code>{" "}
              and up to 10 addresses, comma-separated: each event comes as an email, a camera's
              alert with its picture. By default at most 5 events in 10 minutes come as emails of
              their own; the others of those minutes come together in one summary at their end. An
              email the mail server refuses for good (a 5xx reply to its addresses) is not retried.
            </>
          )
          : "Email alerts need the cloud's mail server (its operator sets --smtp)."}
      </p>
      <form
        class="card"
        data-api="POST /api/webhooks"
        data-then="secret:secret:Webhook signing secret"
        aria-label="New webhook"
      >
        <label for="webhook-url">{props.mail ? "URL, or mailto: and addresses" : "URL"}</label>
        <input
          id="webhook-url"
          name="url"
          type="url"
          required
          maxlength={2048}
          placeholder={props.mail
            ? "https://alerts.example.com/nanodems or mailto:ops@example.com"
            : "https://alerts.example.com/nanodems"}
        />
        <label for="webhook-format">Sends</label>
        <select id="webhook-format" name="format">
          {WEBHOOK_FORMATS.map((f) => <option key={f} value={f}>{FORMAT_NAMES[f]}</option>)}
        </select>
        <EventChoice checked={EVENT_TYPES} />
        <ScheduleChoice id="new-webhook" schedule={null} />
        <DigestChoice id="new-webhook" digest={null} />
        <p>
          <button type="submit">Add webhook</button>
        </p>
      </form>
      <datalist id="time-zones">
        {Intl.supportedValuesOf("timeZone").map((tz) => <option key={tz} value={tz} />)}
      </datalist>
      {hooks.length ? null : <Empty>No webhooks yet.</Empty>}
      {hooks.map((h) => (
        <section
          class="card"
          data-webhook={h.id}
          aria-label={isMailTarget(h.url) ? `Email to ${h.url.slice(7)}` : `Webhook ${h.url}`}
        >
          <h2 style="margin-top:0" class="mono">{h.url}</h2>
          <Health
            h={webhookHealth(logs.get(h.id)!, logs.get(h.id)!.length < HEALTH_DELIVERIES)}
          />
          <p class="muted">
            {isMailTarget(h.url) ? "Email" : FORMAT_NAMES[sentFormat(h)]} · {h.events.join(", ")} ·
            {" "}
            {h.schedule ? `only ${describeSchedule(h.schedule)}` : "always"}
            {readByPerson(h) ? ` · in a flood: ${describeDigest(h)}` : ""} · added{" "}
            <At at={h.createdAt} />
          </p>
          <div class="inline">
            <button
              type="button"
              class="small secondary"
              data-api={`POST /api/webhooks/${h.id}/test`}
              data-toast="Test delivery queued"
            >
              Send test
            </button>
            <button type="button" class="small secondary" data-open={`edit-${h.id}`}>
              Edit
            </button>
            <button
              type="button"
              class="small danger"
              data-api={`DELETE /api/webhooks/${h.id}`}
              data-confirm={`Delete the ${
                isMailTarget(h.url) ? "email alerts" : "webhook"
              } to ${h.url}? Its pending deliveries are dropped.`}
              data-toast="Webhook deleted"
            >
              Delete
            </button>
          </div>
          <dialog id={`edit-${h.id}`} aria-labelledby={`edit-${h.id}-h`}>
            <form data-api={`PATCH /api/webhooks/${h.id}`} data-toast="Webhook saved">
              <h2 id={`edit-${h.id}-h`} class="mono">{h.url}</h2>
              {isMailTarget(h.url) ? null : (
                <>
                  <label for={`edit-${h.id}-format`}>Sends</label>
                  <select id={`edit-${h.id}-format`} name="format">
                    {WEBHOOK_FORMATS.map((f) => (
                      <option key={f} value={f} selected={(h.format ?? "auto") === f}>
                        {FORMAT_NAMES[f]}
                      </option>
                    ))}
                  </select>
                </>
              )}
              <EventChoice checked={h.events} />
              <ScheduleChoice id={`edit-${h.id}`} schedule={h.schedule ?? null} />
              {readByPerson(h)
                ? <DigestChoice id={`edit-${h.id}`} digest={h.digest ?? null} />
                : null}
              <DialogButtons label="Save" />
            </form>
          </dialog>
          <h3>Deliveries</h3>
          {logs.get(h.id)!.length
            ? (
              <Table head={["Event", "State", "Attempts", "Next attempt"]}>
                {logs.get(h.id)!.slice(0, LOG_ROWS).map((d) => (
                  <tr data-delivery={d.id} data-state={d.state}>
                    <td>
                      <code>{d.eventType}</code>
                    </td>
                    <td>{d.state}</td>
                    <td>
                      <Attempts d={d} />
                    </td>
                    <td>{d.state === "pending" ? <At at={d.nextAttemptAt} /> : "—"}</td>
                  </tr>
                ))}
              </Table>
            )
            : <p class="muted">Nothing delivered yet.</p>}
        </section>
      ))}
    </Layout>
  );
}
