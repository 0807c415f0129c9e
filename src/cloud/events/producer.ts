/**
 * Where every tenant event enters (issue 15 item 6): the event is appended to the store under
 * its unique key (so a second node producing the same transition writes nothing), and one
 * delivery is queued per webhook of the tenant that chose its type (`<webhook>:<seq>`, so a
 * retried queueing is a no-op too); to an email or chat alert, past a few in a window, the
 * window's one digest instead (alert_digest.ts). A site whose alerts are paused (maintenance)
 * has its events recorded, marked `alertsPaused`, and nothing queued; so has a device whose
 * alerts are snoozed (`alertsSnoozed`: a camera a storm sets off); a webhook outside its
 * active hours (schedule.ts) gets nothing. Delivery itself is the deliverer's (deliverer.ts); the
 * console learns of new events by reading the store (stream.ts), so every node sees them.
 * @module
 */
import type { Logger } from "../../shared/log.ts";
import type { NewTenantEvent, Site, Store, TenantEvent, Webhook } from "../store/store.ts";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { scheduleActive } from "./schedule.ts";
import { digestOf, digestWindow, personDelivery, readByPerson, windowKey } from "./alert_digest.ts";

/** The JSON a webhook receives for one event (also the inbox API's item). */
export function eventPayload(e: TenantEvent): Record<string, unknown> {
  return {
    id: `evt_${e.seq}`,
    seq: e.seq,
    type: e.type,
    at: new Date(e.at).toISOString(),
    tenantId: e.tenantId,
    subject: e.subject,
    actor: e.actor,
    detail: e.detail,
    read: e.readAt !== null,
  };
}

/** The webhook body of an event: its payload without the tenant-local read flag. */
export function eventBody(e: TenantEvent): string {
  const { read: _read, ...body } = eventPayload(e);
  return JSON.stringify(body);
}

/**
 * What one emit or batch read once: sites (null: no such site), each tenant's snoozed devices,
 * webhooks by tenant.
 */
interface Reads {
  sites: Map<string, Site | null>;
  /** By tenant: its snoozed devices' ids and until when. */
  snoozes: Map<string, Map<string, number>>;
  hooks: Map<string, Webhook[]>;
}

/** Appends events and queues their webhook deliveries. */
export class EventProducer {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #clock: Clock;

  /**
   * A producer over `store` (the raw store, not one that turns audit entries into events); the
   * clock says whether a site's alerts are paused (default the system's).
   */
  constructor(o: { store: Store; log: Logger; clock?: Clock }) {
    this.#store = o.store;
    this.#log = o.log;
    this.#clock = o.clock ?? systemClock;
  }

  /**
   * Records the event (naming its site when the producer gave only the id); null when it was
   * recorded before (another node, a retry).
   */
  async emit(e: NewTenantEvent): Promise<TenantEvent | null> {
    return await this.#emit(e, { sites: new Map(), snoozes: new Map(), hooks: new Map() });
  }

  /**
   * {@linkcode emit} for a batch (a reachability report's flips): each site's name and each
   * tenant's webhooks are read once for the batch, not once per event; `between` is awaited
   * before each event (a time slicer, so a long batch gives the event loop its turns). Returns
   * how many were recorded (not recorded before).
   */
  async emitAll(
    events: NewTenantEvent[],
    between: () => Promise<void> = () => Promise.resolve(),
  ): Promise<number> {
    const reads: Reads = { sites: new Map(), snoozes: new Map(), hooks: new Map() };
    let n = 0;
    for (const e of events) {
      await between();
      if (await this.#emit(e, reads)) n++;
    }
    return n;
  }

  async #emit(e: NewTenantEvent, reads: Reads): Promise<TenantEvent | null> {
    let site: Site | null = null;
    if (e.subject.siteId) {
      const key = `${e.tenantId}|${e.subject.siteId}`;
      if (!reads.sites.has(key)) {
        reads.sites.set(key, await this.#store.getSite(e.tenantId, e.subject.siteId));
      }
      site = reads.sites.get(key) ?? null;
      if (site && !e.subject.siteName) e = { ...e, subject: { ...e.subject, siteName: site.name } };
    }
    // A site in maintenance: the event is recorded (and says so), nothing is sent.
    const paused = site?.alertsPausedUntil != null && site.alertsPausedUntil > this.#clock.now();
    if (paused) e = { ...e, detail: { ...e.detail, alertsPaused: true } };
    // A device whose alerts are snoozed: the same, for its events.
    let snoozed = false;
    if (!paused && e.subject.deviceId) {
      // The tenant's snoozed devices, read once a batch (not each device of a site gone dark).
      let snoozes = reads.snoozes.get(e.tenantId);
      if (!snoozes) {
        snoozes = await this.#store.snoozedDevices(e.tenantId, this.#clock.now());
        reads.snoozes.set(e.tenantId, snoozes);
      }
      const until = snoozes.get(e.subject.deviceId) ?? null;
      snoozed = until !== null && until > this.#clock.now();
      if (snoozed) e = { ...e, detail: { ...e.detail, alertsSnoozed: true } };
    }
    const ev = await this.#store.appendEvent(e);
    if (!ev) return null;
    if (paused || snoozed) {
      this.#log.info(
        {
          tenant: ev.tenantId,
          type: ev.type,
          seq: ev.seq,
          site: site?.id,
          device: ev.subject.deviceId,
        },
        paused
          ? "event during the site's paused alerts: recorded, not sent"
          : "event of a device whose alerts are snoozed: recorded, not sent",
      );
      return ev;
    }
    let hooks = reads.hooks.get(ev.tenantId);
    if (!hooks) reads.hooks.set(ev.tenantId, hooks = await this.#store.listWebhooks(ev.tenantId));
    for (const w of hooks) {
      if (!w.events.includes(ev.type)) continue;
      // Outside its active hours (schedule.ts) the event is not sent to it.
      if (!scheduleActive(w.schedule, ev.at)) continue;
      const digest = readByPerson(w) ? digestOf(w) : null;
      if (digest) {
        // An email or chat alert: its own message, or (past the window's few) the window's digest.
        const n = await this.#store.hitRateWindow(
          windowKey(w.id, digestWindow(ev.at, digest.minutes).index, digest.minutes),
          digest.minutes * 60_000,
        );
        await this.#store.createDelivery(personDelivery(w, ev, n, eventBody(ev)));
        continue;
      }
      await this.#store.createDelivery({
        id: `${w.id}:${ev.seq}`,
        tenantId: ev.tenantId,
        webhookId: w.id,
        eventType: ev.type,
        body: eventBody(ev),
      });
    }
    this.#log.info(
      { tenant: ev.tenantId, type: ev.type, seq: ev.seq, subject: ev.subject.name },
      "event",
    );
    return ev;
  }

  /** `emit` that logs a failure instead of throwing (the caller's own action succeeded). */
  async emitQuietly(e: NewTenantEvent): Promise<void> {
    try {
      await this.emit(e);
    } catch (err) {
      this.#log.warn({ type: e.type, err: (err as Error).message }, "event not recorded");
    }
  }
}
