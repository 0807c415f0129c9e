/**
 * Where every tenant event enters (issue 15 item 6): the event is appended to the store under
 * its unique key (so a second node producing the same transition writes nothing), and one
 * delivery is queued per webhook of the tenant that chose its type (`<webhook>:<seq>`, so a
 * retried queueing is a no-op too). Delivery itself is the deliverer's (deliverer.ts); the
 * console learns of new events by reading the store (stream.ts), so every node sees them.
 * @module
 */
import type { Logger } from "../../shared/log.ts";
import type { NewTenantEvent, Store, TenantEvent } from "../store/store.ts";

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

/** Appends events and queues their webhook deliveries. */
export class EventProducer {
  readonly #store: Store;
  readonly #log: Logger;

  /** A producer over `store` (the raw store, not one that turns audit entries into events). */
  constructor(o: { store: Store; log: Logger }) {
    this.#store = o.store;
    this.#log = o.log;
  }

  /**
   * Records the event (naming its site when the producer gave only the id); null when it was
   * recorded before (another node, a retry).
   */
  async emit(e: NewTenantEvent): Promise<TenantEvent | null> {
    if (e.subject.siteId && !e.subject.siteName) {
      const site = await this.#store.getSite(e.tenantId, e.subject.siteId);
      if (site) e = { ...e, subject: { ...e.subject, siteName: site.name } };
    }
    const ev = await this.#store.appendEvent(e);
    if (!ev) return null;
    for (const w of await this.#store.listWebhooks(ev.tenantId)) {
      if (!w.events.includes(ev.type)) continue;
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
