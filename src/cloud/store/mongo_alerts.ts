/**
 * The MongoDB store's reachability, events and webhooks (issue 15 items 5–8), each write one
 * single-document operation (FerretDB has no transactions): a port state flips with a filtered
 * upsert (`up: {$ne: new}`; an unchanged state collides on `_id`, which means "no change"), an
 * event's key is a unique index (a second producer's insert collides and writes nothing), and a
 * delivery is claimed with `findOneAndUpdate` on a due document, so two nodes never hold one
 * attempt. Split from `mongo.ts` to keep each part one concept.
 * @module
 */
import type { Db, Document } from "mongodb";
import type { Clock } from "../../shared/clock.ts";
import { newId } from "../../shared/ids.ts";
import { C, isDuplicateKey, MongoBase, nextOrd, SECURE, upsert } from "./mongo_schema.ts";
import { eventLimit } from "./rules.ts";
import type {
  AgentAvailability,
  AlertStore,
  DeliveryAttempt,
  Device,
  EventQuery,
  EventReader,
  NewDelivery,
  NewTenantEvent,
  PortState,
  PortStateChange,
  PortStateCounts,
  PortStatePageQuery,
  TenantEvent,
  Webhook,
  WebhookDelivery,
  WebhookPatch,
} from "./store.ts";

/**
 * The counters document that says every event has its `deviceId` and `siteId` fields (an older
 * one, `events-device-ids`, said it of `deviceId` alone: a deployment that has it walks once more
 * for `siteId`).
 */
export const EVENT_SUBJECT_IDS_DONE = "events-subject-ids";
/** Events read per step of the backfill. */
const BACKFILL_BATCH = 1_000;
/** The subject's ids every event carries as fields of its own, so a query can use an index. */
const SUBJECT_IDS = ["deviceId", "siteId"] as const;

/** An event's subject ids as its fields (null where the subject names none). */
function subjectIds(subject: unknown): Record<(typeof SUBJECT_IDS)[number], string | null> {
  const s = (subject ?? {}) as Record<string, unknown>;
  const id = (v: unknown) => (typeof v === "string" ? v : null);
  return { deviceId: id(s.deviceId), siteId: id(s.siteId) };
}

/**
 * Gives the events stored before events carried a `deviceId` field (a camera's recent alerts,
 * `?device=`) or a `siteId` field (the Events page's site filter, `?site=`) those fields, from
 * their subject, so a camera's Live page and a site's events list the older ones too. Walks the
 * collection once in `_id` order (the primary index: no scan per step), writes only documents
 * that lack a field, and records when it has finished, so a later start reads one document.
 * Idempotent and resumable: two nodes starting together, or a start stopped halfway, write the
 * same values (a subject never changes); `stop` is asked between steps. Returns how many it wrote.
 */
export async function backfillEventSubjectIds(
  db: Db,
  stop: () => boolean = () => false,
): Promise<number> {
  const done = await db.collection(C.counters).findOne({ _id: EVENT_SUBJECT_IDS_DONE as never });
  if (done) return 0;
  const events = db.collection(C.events);
  let after = -Infinity;
  let written = 0;
  for (;;) {
    if (stop()) return written;
    const batch = await events.find({ _id: { $gt: after as never } }, {
      projection: { subject: 1, deviceId: 1, siteId: 1 },
      sort: { _id: 1 },
      limit: BACKFILL_BATCH,
    }).toArray();
    if (!batch.length) break;
    after = batch[batch.length - 1]._id as unknown as number;
    const ops = batch.filter((d) => SUBJECT_IDS.some((f) => !(f in d))).map((d) => {
      let ids = subjectIds(null);
      try {
        ids = subjectIds(JSON.parse(d.subject));
      } catch { /* an unreadable subject names no device or site */ }
      const missing = SUBJECT_IDS.filter((f) => !(f in d));
      return {
        updateOne: {
          filter: { _id: d._id },
          update: { $set: Object.fromEntries(missing.map((f) => [f, ids[f]])) },
        },
      };
    });
    if (ops.length) written += (await events.bulkWrite(ops, { ordered: false })).modifiedCount;
  }
  await db.collection(C.counters).updateOne(
    { _id: EVENT_SUBJECT_IDS_DONE as never },
    { $set: { value: 1 } },
    { upsert: true },
  );
  return written;
}

/** The store's device lookup (`Store.getDevicesByHost`: case-insensitive, on site_host). */
type DevicesByHost = (tenantId: string, siteId: string, hosts: string[]) => Promise<Device[]>;

const portFields = ["tenantId", "siteId", "host", "port", "up", "since", "error", "agentId"];

const portState = (d: Document): PortState =>
  Object.fromEntries(portFields.map((k) => [k, d[k]])) as unknown as PortState;

const toEvent = (d: Document): TenantEvent => ({
  seq: d._id as unknown as number,
  tenantId: d.tenantId,
  type: d.type,
  at: d.at,
  subject: JSON.parse(d.subject),
  actor: d.actor,
  detail: JSON.parse(d.detail),
  readAt: d.readAt ?? null,
});

const toWebhook = (d: Document): Webhook => ({
  id: d._id as unknown as string,
  tenantId: d.tenantId,
  url: d.url,
  events: d.events,
  format: d.format ?? "auto",
  schedule: d.schedule ?? null,
  digest: d.digest ?? null,
  secretSeed: d.secretSeed,
  createdAt: d.createdAt,
  createdBy: d.createdBy,
});

const toDelivery = (d: Document): WebhookDelivery => ({
  id: d._id as unknown as string,
  tenantId: d.tenantId,
  webhookId: d.webhookId,
  eventType: d.eventType,
  body: d.body,
  state: d.state,
  attempts: d.attempts ?? [],
  nextAttemptAt: d.nextAttemptAt,
  createdAt: d.createdAt,
  claimedBy: d.claimedBy ?? null,
});

/** Reachability, events and webhooks over one database. */
export class MongoAlerts extends MongoBase implements AlertStore {
  readonly #devicesByHost: DevicesByHost;

  /** Binds the part to a database, a clock and the store's device lookup by host. */
  constructor(db: Db, clock: Clock, devicesByHost: DevicesByHost) {
    super(db, clock);
    this.#devicesByHost = devicesByHost;
  }

  async recordPortState(s: PortState): Promise<PortStateChange> {
    const _id = `${s.siteId}|${s.host}|${s.port}`;
    try {
      const before = await this.c(C.portStates).findOneAndUpdate(
        { _id: _id as never, up: { $ne: s.up } },
        { $set: { ...s } },
        { upsert: true, returnDocument: "before" },
      );
      return { changed: true, previous: before ? Boolean(before.up) : null };
    } catch (e) {
      if (!isDuplicateKey(e)) throw e;
      // Stored with the same state: refresh the reporter and the reason only.
      await this.c(C.portStates).updateOne(
        { _id: _id as never, up: s.up },
        { $set: { error: s.error, agentId: s.agentId } },
      );
      return { changed: false, previous: s.up };
    }
  }

  async recordPortStates(states: PortState[]): Promise<PortStateChange[]> {
    if (!states.length) return [];
    const id = (s: PortState) => `${s.siteId}|${s.host}|${s.port}`;
    const stored = new Map<string, boolean>();
    const ids = [...new Set(states.map(id))];
    for (const d of await this.c(C.portStates).find({ _id: { $in: ids as never[] } }).toArray()) {
      stored.set(d._id as unknown as string, Boolean(d.up));
    }
    // Pairs stored with the same state only refresh reason and reporter: one update per
    // (state, reason, reporter) — an agent's report has a handful — instead of one per pair.
    const out: (PortStateChange | undefined)[] = new Array(states.length);
    const groups = new Map<string, number[]>();
    states.forEach((s, i) => {
      if (stored.get(id(s)) !== s.up) return;
      const k = JSON.stringify([s.up, s.error, s.agentId]);
      groups.set(k, [...groups.get(k) ?? [], i]);
    });
    for (const idx of groups.values()) {
      const s = states[idx[0]];
      const r = await this.c(C.portStates).updateMany(
        { _id: { $in: idx.map((i) => id(states[i])) as never[] }, up: s.up },
        { $set: { error: s.error, agentId: s.agentId } },
      );
      // All still as read: no change. Otherwise another report flipped one meanwhile; each of
      // the group then goes through the compare-and-set below, which decides it exactly.
      if (r.matchedCount === new Set(idx.map((i) => id(states[i]))).size) {
        for (const i of idx) out[i] = { changed: false, previous: s.up };
      }
    }
    // Pairs never stored (a site's first report: thousands) go in one insert instead of one
    // upsert each; one that another node inserted meanwhile fails with a duplicate key and goes
    // through the compare-and-set below. A pair named twice in the batch is inserted once, its
    // second report compared with the first like any other.
    const fresh = new Map<string, number>();
    states.forEach((s, i) => {
      if (!stored.has(id(s)) && !fresh.has(id(s))) fresh.set(id(s), i);
    });
    if (fresh.size) {
      const idx = [...fresh.values()];
      const failed = await this.#insertFresh(
        idx.map((i) => ({ _id: id(states[i]), ...states[i] })),
      );
      idx.forEach((i, k) => {
        if (!failed.has(k)) out[i] = { changed: true, previous: null };
      });
    }
    for (let i = 0; i < states.length; i++) out[i] ??= await this.recordPortState(states[i]);
    return out as PortStateChange[];
  }

  /** Inserts `docs` unordered; the indexes of those already there (duplicate key). */
  async #insertFresh(docs: Document[]): Promise<Set<number>> {
    try {
      await this.c(C.portStates).insertMany(docs as never[], { ordered: false });
      return new Set();
    } catch (e) {
      const errors = (e as { writeErrors?: { index: number; code: number }[] | object })
        .writeErrors;
      const list = Array.isArray(errors)
        ? errors
        : errors
        ? [errors as { index: number; code: number }]
        : [];
      if (!list.length || list.some((w) => w.code !== 11000)) throw e;
      return new Set(list.map((w) => w.index));
    }
  }

  async countPortStates(tenantId: string, siteId: string): Promise<PortStateCounts> {
    // Two projected reads counted here (FerretDB has no $lookup): the site's pairs, its states.
    const pairs = new Set<string>();
    const devices = this.c(C.devices).find({ siteId, tenantId }, {
      projection: { _id: 0, host: 1, ports: 1 },
    });
    for await (const d of devices) {
      for (const port of d.ports as number[]) pairs.add(`${String(d.host).toLowerCase()}|${port}`);
    }
    let checked = 0, up = 0;
    const states = this.c(C.portStates).find({ tenantId, siteId }, {
      projection: { _id: 0, host: 1, port: 1, up: 1 },
    });
    for await (const s of states) {
      if (!pairs.has(`${s.host}|${s.port}`)) continue;
      checked++;
      if (s.up) up++;
    }
    return { total: pairs.size, checked, up };
  }

  async getPortStatesOf(tenantId: string, siteId: string, hosts: string[]): Promise<PortState[]> {
    if (!hosts.length) return [];
    const docs = await this.c(C.portStates).find({ siteId, tenantId, host: { $in: hosts } })
      .sort({ host: 1, port: 1 }).toArray();
    return docs.map(portState);
  }

  async pagePortStates(
    tenantId: string,
    siteId: string,
    q: PortStatePageQuery,
  ): Promise<PortState[]> {
    // A page of states on site_host (site_up_host for only up or only down states), then their
    // hosts' devices (FerretDB has no $lookup): the states of pairs no longer allowlisted are
    // dropped and the next raw page read to fill in.
    const out: PortState[] = [];
    let after = q.after;
    for (;;) {
      const filter: Record<string, unknown> = { siteId, tenantId };
      if (q.up !== undefined) filter.up = q.up;
      if (after) {
        filter.$or = [{ host: { $gt: after.host } }, {
          host: after.host,
          port: { $gt: after.port },
        }];
      }
      const want = q.limit - out.length;
      const docs = await this.c(C.portStates).find(filter).sort({ host: 1, port: 1 }).limit(want)
        .toArray();
      const states = docs.map(portState);
      const hosts = [...new Set(states.map((s) => s.host))];
      const pairs = new Set<string>();
      for (const d of await this.#devicesByHost(tenantId, siteId, hosts)) {
        for (const port of d.ports) pairs.add(`${d.host.toLowerCase()}|${port}`);
      }
      out.push(...states.filter((s) => pairs.has(`${s.host}|${s.port}`)));
      if (states.length < want || out.length >= q.limit) return out;
      after = { host: states.at(-1)!.host, port: states.at(-1)!.port };
    }
  }

  async listAgentAvailability(agentIds?: string[]): Promise<AgentAvailability[]> {
    const filter = agentIds === undefined ? {} : { _id: { $in: agentIds as never[] } };
    const docs = await this.c(C.agentAvailability).find(filter).sort({ _id: 1 }).toArray();
    return docs.map((d) => ({
      agentId: d._id as unknown as string,
      tenantId: d.tenantId,
      siteId: d.siteId,
      online: d.online,
      since: d.since,
      absentSince: d.absentSince ?? null,
    }));
  }

  async putAgentAvailability(a: AgentAvailability): Promise<void> {
    const { agentId, ...rest } = a;
    await upsert(() =>
      this.c(C.agentAvailability).updateOne({ _id: agentId as never }, { $set: rest }, {
        upsert: true,
      })
    );
  }

  async appendEvent(e: NewTenantEvent): Promise<TenantEvent | null> {
    const at = this.now();
    const subject = JSON.parse(JSON.stringify(e.subject));
    const detail = JSON.parse(JSON.stringify(e.detail ?? {}));
    // The key is checked first so a duplicate costs no sequence number in the common case; the
    // unique index decides a race (the loser's number is a gap, never a second event).
    if (await this.c(C.events).findOne({ key: e.key })) return null;
    const counter = await upsert(() =>
      this.c(C.counters).findOneAndUpdate(
        { _id: "events" as never },
        { $inc: { value: 1 } },
        { upsert: true, returnDocument: "after" },
      )
    );
    const seq = counter!.value as number;
    try {
      // subject and detail are stored as JSON text: free-form keys are not all valid field names.
      await this.c(C.events).insertOne({
        _id: seq as never,
        key: e.key,
        tenantId: e.tenantId,
        type: e.type,
        at,
        subject: JSON.stringify(subject),
        // Beside the JSON, for a device's own events (a camera's recent alerts) and a site's.
        ...subjectIds(subject),
        actor: e.actor,
        detail: JSON.stringify(detail),
        readAt: null,
      });
    } catch (err) {
      if (isDuplicateKey(err)) return null;
      throw err;
    }
    return {
      seq,
      tenantId: e.tenantId,
      type: e.type,
      at,
      subject,
      actor: e.actor,
      detail,
      readAt: null,
    };
  }

  async listEvents(tenantId: string, q: EventQuery = {}): Promise<TenantEvent[]> {
    const reader = q.reader ? await this.#reader(tenantId, q.reader) : null;
    const seq: Document = {};
    if (q.before !== undefined) seq.$lt = q.before;
    if (q.after !== undefined) seq.$gt = q.after;
    const filter: Document = { tenantId };
    if (q.unread) {
      filter.readAt = null;
      if (q.reader && reader) {
        // Unread for this reader: above its watermark and not marked one by one.
        seq.$gt = Math.max(seq.$gt ?? -Infinity, reader.upto);
        seq.$nin = await this.#marked(tenantId, q.reader.id, reader.upto);
      }
    }
    if (Object.keys(seq).length) filter._id = seq;
    if (q.types) filter.type = { $in: [...q.types] };
    if (q.deviceId !== undefined) filter.deviceId = q.deviceId;
    if (q.siteId !== undefined) filter.siteId = q.siteId;
    const docs = await this.c(C.events).find(filter).sort({ _id: -1 }).limit(eventLimit(q.limit))
      .toArray();
    const events = docs.map(toEvent);
    if (!q.reader || !reader) return events;
    // Read for this reader: under its watermark, or marked one by one.
    const unread = events.filter((e) => e.readAt === null);
    for (const e of unread) if (e.seq <= reader.upto) e.readAt = reader.uptoAt;
    const above = unread.filter((e) => e.seq > reader.upto);
    if (above.length) {
      const marks = await this.c(C.eventReads).find({
        tenantId,
        reader: q.reader.id,
        seq: { $in: above.map((e) => e.seq) },
      }).toArray();
      const at = new Map(marks.map((m) => [m.seq as number, m.readAt as number]));
      for (const e of above) e.readAt = at.get(e.seq) ?? null;
    }
    return events;
  }

  /** The seqs above `upto` that the reader marked read one by one. */
  async #marked(tenantId: string, reader: string, upto: number): Promise<number[]> {
    const marks = await this.c(C.eventReads).find(
      { tenantId, reader, seq: { $gt: upto } },
      { projection: { seq: 1 } },
    ).toArray();
    return marks.map((m) => m.seq as number);
  }

  /**
   * The reader's watermark, made on its first use: the newest event from before `since` (a new
   * user has read nothing of what came after its account, everything before). Two nodes making
   * it at once write the same values.
   */
  async #reader(tenantId: string, reader: EventReader): Promise<{ upto: number; uptoAt: number }> {
    const _id = `${tenantId}|${reader.id}`;
    let d = await this.c(C.eventReaders).findOne({ _id: _id as never });
    if (!d) {
      const [before] = reader.since > 0
        ? await this.c(C.events).find({ tenantId, at: { $lt: reader.since } }, {
          projection: { _id: 1 },
        }).sort({ _id: -1 }).limit(1).toArray()
        : [];
      try {
        await this.c(C.eventReaders).updateOne({ _id: _id as never }, {
          $setOnInsert: {
            tenantId,
            reader: reader.id,
            readUpto: before ? before._id as unknown as number : 0,
            readUptoAt: reader.since,
          },
        }, { upsert: true });
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
      }
      d = (await this.c(C.eventReaders).findOne({ _id: _id as never }))!;
    }
    return { upto: d.readUpto as number, uptoAt: d.readUptoAt as number };
  }

  async countUnreadEvents(tenantId: string, reader: EventReader): Promise<number> {
    const { upto } = await this.#reader(tenantId, reader);
    // Marks are made only for events unread tenant-wide and above the watermark, and go with
    // their events (purgeEvents): the difference is this reader's unread.
    const [unread, marked] = await Promise.all([
      this.c(C.events).countDocuments({ tenantId, readAt: null, _id: { $gt: upto as never } }),
      this.c(C.eventReads).countDocuments({ tenantId, reader: reader.id, seq: { $gt: upto } }),
    ]);
    return Math.max(0, unread - marked);
  }

  async markEventsRead(
    tenantId: string,
    reader: EventReader,
    seqs: number[] | "all",
  ): Promise<number> {
    const now = this.now();
    const { upto } = await this.#reader(tenantId, reader);
    if (seqs === "all") {
      // One write, however many there are: the watermark moves to the newest event there is
      // now; one arriving after stays unread.
      const [newest] = await this.c(C.events).find({ tenantId }, { projection: { _id: 1 } })
        .sort({ _id: -1 }).limit(1).toArray();
      const top = newest ? newest._id as unknown as number : 0;
      if (top <= upto) return 0;
      const marked = await this.countUnreadEvents(tenantId, reader);
      await this.c(C.eventReaders).updateOne(
        { _id: `${tenantId}|${reader.id}` as never, readUpto: { $lt: top } },
        { $set: { readUpto: top, readUptoAt: now } },
      );
      await this.c(C.eventReads).deleteMany({ tenantId, reader: reader.id, seq: { $lte: top } });
      return marked;
    }
    const events = await this.c(C.events).find(
      { tenantId, readAt: null, _id: { $in: seqs as never[], $gt: upto as never } },
      { projection: { _id: 1, at: 1 } },
    ).toArray();
    if (!events.length) return 0;
    const r = await this.c(C.eventReads).bulkWrite(
      events.map((e) => {
        const seq = e._id as unknown as number;
        return {
          updateOne: {
            filter: { _id: `${tenantId}|${reader.id}|${seq}` as never },
            update: { $setOnInsert: { tenantId, reader: reader.id, seq, at: e.at, readAt: now } },
            upsert: true,
          },
        };
      }),
      { ordered: false },
    );
    return r.upsertedCount;
  }

  async createWebhook(w: Omit<Webhook, "id" | "createdAt">): Promise<Webhook> {
    const hook: Webhook = {
      ...w,
      format: w.format ?? "auto",
      schedule: w.schedule ?? null,
      digest: w.digest ?? null,
      id: newId("wh"),
      createdAt: this.now(),
    };
    const { id, ...rest } = hook;
    await this.c(C.webhooks).insertOne({ _id: id as never, ...rest, ord: nextOrd() }, SECURE);
    return hook;
  }

  async listWebhooks(tenantId: string): Promise<Webhook[]> {
    const docs = await this.c(C.webhooks).find({ tenantId }).sort({ createdAt: 1, ord: 1 })
      .toArray();
    return docs.map(toWebhook);
  }

  async getWebhook(tenantId: string, id: string): Promise<Webhook | null> {
    const d = await this.c(C.webhooks).findOne({ _id: id as never, tenantId });
    return d ? toWebhook(d) : null;
  }

  async updateWebhook(
    tenantId: string,
    id: string,
    patch: WebhookPatch,
  ): Promise<Webhook | null> {
    const set = {
      ...(patch.events ? { events: patch.events } : {}),
      ...(patch.format ? { format: patch.format } : {}),
      ...(patch.schedule !== undefined ? { schedule: patch.schedule } : {}),
      ...(patch.digest !== undefined ? { digest: patch.digest } : {}),
    };
    if (!Object.keys(set).length) return await this.getWebhook(tenantId, id);
    const d = await this.c(C.webhooks).findOneAndUpdate(
      { _id: id as never, tenantId },
      { $set: set },
      { returnDocument: "after", ...SECURE },
    );
    return d ? toWebhook(d) : null;
  }

  async deleteWebhook(tenantId: string, id: string): Promise<boolean> {
    const r = await this.c(C.webhooks).deleteOne({ _id: id as never, tenantId }, SECURE);
    if (r.deletedCount === 0) return false;
    await this.c(C.deliveries).deleteMany({ webhookId: id });
    return true;
  }

  async createDelivery(d: NewDelivery): Promise<boolean> {
    if (!(await this.getWebhook(d.tenantId, d.webhookId))) return false;
    const now = this.now();
    try {
      await this.c(C.deliveries).insertOne({
        _id: d.id as never,
        tenantId: d.tenantId,
        webhookId: d.webhookId,
        eventType: d.eventType,
        body: d.body,
        state: "pending",
        attempts: [],
        nextAttemptAt: d.dueAt ?? now,
        createdAt: now,
        claimedBy: null,
        ord: nextOrd(),
      });
      return true;
    } catch (e) {
      if (isDuplicateKey(e)) return false;
      throw e;
    }
  }

  async claimDelivery(
    owner: string,
    leaseMs: number,
    skipWebhooks: string[] = [],
  ): Promise<WebhookDelivery | null> {
    const now = this.now();
    const skip = skipWebhooks.length ? { webhookId: { $nin: skipWebhooks } } : {};
    const d = await this.c(C.deliveries).findOneAndUpdate(
      { state: "pending", nextAttemptAt: { $lte: now }, ...skip },
      { $set: { nextAttemptAt: now + leaseMs, claimedBy: owner } },
      { sort: { nextAttemptAt: 1 }, returnDocument: "after" },
    );
    return d ? toDelivery(d) : null;
  }

  async finishDeliveryAttempt(
    id: string,
    owner: string,
    attempt: DeliveryAttempt,
    next: { state: WebhookDelivery["state"]; nextAttemptAt: number },
  ): Promise<boolean> {
    const r = await this.c(C.deliveries).updateOne(
      { _id: id as never, claimedBy: owner, state: "pending" },
      {
        $push: { attempts: attempt } as never,
        $set: { state: next.state, nextAttemptAt: next.nextAttemptAt, claimedBy: null },
      },
    );
    return r.modifiedCount > 0;
  }

  async listDeliveries(tenantId: string, webhookId: string, limit = 50) {
    const docs = await this.c(C.deliveries).find({ tenantId, webhookId })
      .sort({ createdAt: -1, ord: -1 }).limit(Math.min(Math.max(1, limit), 500)).toArray();
    return docs.map(toDelivery);
  }

  async purgeEvents(before: number): Promise<{ events: number; deliveries: number }> {
    const e = await this.c(C.events).deleteMany({ at: { $lt: before } });
    // Marks of events that are gone (the events' own times).
    await this.c(C.eventReads).deleteMany({ at: { $lt: before } });
    const d = await this.c(C.deliveries).deleteMany({
      state: { $ne: "pending" },
      createdAt: { $lt: before },
    });
    return { events: e.deletedCount, deliveries: d.deletedCount };
  }
}
