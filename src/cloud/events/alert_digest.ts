/**
 * Keeps alerts that a person reads — an email (`mailto:`) or a chat channel (chat_message.ts) —
 * from flooding them. A site that loses power raises forty `device.down` at once, and a busy
 * street makes every camera's motion start within a minute of the others': forty messages in a
 * row bury the one that matters and teach people to mute the sender (and a chat service throttles
 * the burst). So each such webhook gets at most {@linkcode EACH_PER_WINDOW} events as messages of
 * their own in each {@linkcode DIGEST_WINDOW_MS} (aligned, in the store's time; or what the webhook
 * chose: `digest`, {@linkcode digestOf}, or none held back at all); the events past
 * that are not sent one by one, and one summary — a digest — goes out at the window's end listing
 * every event of the webhook's types in that window. The count is kept in the store
 * (`hitRateWindow`), so it holds across the nodes, and the digest is one delivery with a fixed id
 * per window (`<webhook>:digest:<window>`): however many nodes queue it, it is queued once, and it
 * goes through the same queue, retries and log as any delivery. Webhooks that post the JSON event
 * are not held back: a receiver program takes a burst, and a person does not.
 * @module
 */
import type { NewDelivery, Store, TenantEvent, Webhook } from "../store/store.ts";
import { isMailTarget } from "./mail_target.ts";
import { sentFormat } from "./chat_message.ts";
import { scheduleActive } from "./schedule.ts";
import type { DigestInput } from "./alert_words.ts";
import { eventsMatching } from "./matching.ts";

/** Messages of their own a person's webhook gets per window by default; the rest go in the digest. */
export const EACH_PER_WINDOW = 5;

/** The window the count is kept in by default; the digest goes out at its end. */
export const DIGEST_WINDOW_MS = 10 * 60_000;

/** The windows a webhook may choose, minutes (each divides an hour: windows start on the clock). */
export const DIGEST_MINUTES = [5, 10, 15, 30, 60] as const;

/** The most messages of their own a webhook may choose per window. */
export const DIGEST_EACH_MAX = 100;

/** A webhook's digest as it applies: its own or the default; null when it has it off. */
export function digestOf(hook: Pick<Webhook, "digest">): { each: number; minutes: number } | null {
  if (hook.digest === "off") return null;
  return hook.digest ?? { each: EACH_PER_WINDOW, minutes: DIGEST_WINDOW_MS / 60_000 };
}

/** The event type of a digest delivery (never an event of its own). */
export const DIGEST_TYPE = "alert.digest";

/** What a digest delivery's body holds: its window (the events are read when it is sent). */
export interface DigestBody {
  type: typeof DIGEST_TYPE;
  tenantId: string;
  /** The window, ms since the epoch: events with `start <= at < end`. */
  start: number;
  end: number;
}

/**
 * How `hook` holds back a flood, in words (`5 in 10 minutes on their own, the rest in a summary`),
 * or null when nothing is held back because a program reads it (JSON).
 */
export function describeDigest(hook: Pick<Webhook, "url" | "format" | "digest">): string | null {
  if (!readByPerson(hook)) return null;
  const d = digestOf(hook);
  return d
    ? `${d.each} in ${d.minutes} minutes on their own, the rest in one summary at their end`
    : "every event on its own";
}

/** The window of `minutes` (default 10) that `at` falls in. */
export function digestWindow(
  at: number,
  minutes = DIGEST_WINDOW_MS / 60_000,
): { index: number; start: number; end: number } {
  const ms = minutes * 60_000;
  const index = Math.floor(at / ms);
  return { index, start: index * ms, end: (index + 1) * ms };
}

/**
 * The count of a webhook's messages in a window, as the store keeps it (a window of another
 * length than the default says so: its indexes count other windows).
 */
export function windowKey(webhookId: string, index: number, minutes = 10): string {
  return minutes === 10
    ? `mail-each:${webhookId}:${index}`
    : `mail-each:${webhookId}:${minutes}m:${index}`;
}

/**
 * What to queue for event `ev` to the webhook `hook` a person reads (email, chat), given the hit
 * count `n` the store answered for the hook's window (1 for the window's first event): its own
 * message while `n` is within the hook's `each` (always, with its digest off), else the window's
 * digest, due at the window's end.
 */
export function personDelivery(
  hook: Webhook,
  ev: TenantEvent,
  n: number,
  body: string,
): NewDelivery {
  const digest = digestOf(hook);
  if (!digest || n <= digest.each) {
    return {
      id: `${hook.id}:${ev.seq}`,
      tenantId: ev.tenantId,
      webhookId: hook.id,
      eventType: ev.type,
      body,
    };
  }
  const w = digestWindow(ev.at, digest.minutes);
  const d: DigestBody = {
    type: DIGEST_TYPE,
    tenantId: ev.tenantId,
    start: w.start,
    end: w.end,
  };
  return {
    id: digest.minutes === 10
      ? `${hook.id}:digest:${w.index}`
      : `${hook.id}:digest:${digest.minutes}m:${w.index}`,
    tenantId: ev.tenantId,
    webhookId: hook.id,
    eventType: DIGEST_TYPE,
    body: JSON.stringify(d),
    dueAt: w.end,
  };
}

/** A digest delivery's body, or null when `body` is not one. */
export function parseDigest(body: string): DigestBody | null {
  try {
    const b = JSON.parse(body) as Partial<DigestBody>;
    return b.type === DIGEST_TYPE && typeof b.start === "number" && typeof b.end === "number" &&
        typeof b.tenantId === "string"
      ? b as DigestBody
      : null;
  } catch {
    return null;
  }
}

/** The most rows a digest lists; the rest are counted and left to the Events page. */
export const DIGEST_ROWS = 100;

/** How many events a digest reads at most to count its window (a count past it is "at least"). */
export const DIGEST_READ_MAX = 5_000;

/** Whether `hook` is read by a person (an email or a chat channel): its flood becomes a digest. */
export function readByPerson(hook: Pick<Webhook, "url" | "format">): boolean {
  return isMailTarget(hook.url) || sentFormat(hook) !== "json";
}

/** A digest's window as read from the store. */
export interface DigestEvents {
  /** The window's first {@linkcode DIGEST_ROWS} events of the webhook's types, oldest first. */
  rows: TenantEvent[];
  /** How many the window holds. */
  total: number;
  /** How many of each event type the window holds. */
  kinds: Record<string, number>;
  /** Whether the count stopped at {@linkcode DIGEST_READ_MAX} (the window holds more). */
  atLeast: boolean;
}

/**
 * The events of `hook`'s types in `d`'s window that it would have been sent (none of a paused
 * site, none outside its active hours), read from the store by the window's time
 * (events/matching.ts: found by seq, not by walking back from the newest), so a digest sent late
 * (a retry hours on) still lists its own minutes.
 */
export async function readDigest(
  store: Store,
  hook: Webhook,
  d: DigestBody,
): Promise<DigestEvents> {
  const inWindow: TenantEvent[] = [];
  let read = 0;
  const window = { types: hook.events, from: d.start, to: d.end - 1 };
  for await (const page of eventsMatching(store, d.tenantId, window, DIGEST_READ_MAX)) {
    read += page.length;
    for (const e of page) {
      // The window's events this webhook would have been sent: not a paused site's or a snoozed
      // device's, not outside its active hours.
      if (e.detail.alertsPaused === true || e.detail.alertsSnoozed === true) continue;
      if (scheduleActive(hook.schedule, e.at)) inWindow.push(e);
    }
  }
  inWindow.reverse();
  const kinds: Record<string, number> = {};
  for (const e of inWindow) kinds[e.type] = (kinds[e.type] ?? 0) + 1;
  return {
    rows: inWindow.slice(0, DIGEST_ROWS),
    total: inWindow.length,
    kinds,
    atLeast: read >= DIGEST_READ_MAX,
  };
}

/** A digest delivery's window as its message is written from (alert_words.ts `digestWords`). */
export async function digestInput(
  store: Store,
  hook: Webhook,
  d: DigestBody,
): Promise<DigestInput> {
  return {
    ...await readDigest(store, hook, d),
    start: d.start,
    end: d.end,
    // The window the digest covers, and how many the hook sends on their own in one now.
    each: digestOf(hook)?.each ?? EACH_PER_WINDOW,
    minutes: Math.round((d.end - d.start) / 60_000),
  };
}
