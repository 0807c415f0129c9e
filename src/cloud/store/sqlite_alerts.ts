/**
 * The SQLite store's reachability, events and webhooks (issue 15 items 5–8): port states per
 * (site, host, port) written with a compare-and-set so one flip is one change, agent availability,
 * events with a unique key per transition (a second producer's insert is a no-op), webhooks, and
 * deliveries claimed one at a time under a lease. Split from `sqlite.ts` to keep each part one
 * concept; it shares the store's connection and clock.
 * @module
 */
// deno-lint-ignore-file require-await -- node:sqlite is synchronous; the methods stay async.
import type { SQLInputValue, SQLOutputValue } from "node:sqlite";
import type { Clock } from "../../shared/clock.ts";
import { newId } from "../../shared/ids.ts";
import { loopTurn } from "../../shared/time_slice.ts";
import { eventLimit } from "./rules.ts";
import type {
  AgentAvailability,
  AlertStore,
  DeliveryAttempt,
  EventQuery,
  EventReader,
  EventType,
  NewDelivery,
  NewTenantEvent,
  PortState,
  PortStateChange,
  PortStateCounts,
  PortStatePageQuery,
  TenantEvent,
  Webhook,
  WebhookDelivery,
  WebhookFormat,
  WebhookPatch,
} from "./store.ts";

type Row = Record<string, SQLOutputValue>;

/**
 * Rows per statement of the retention purge (`purgeEvents`, on the `at` / `created_at` indexes
 * of migration 15) and of marking all events read: a few milliseconds each.
 */
export const PURGE_PAGE = 500;

const str = (v: SQLOutputValue): string => v as string;
const num = (v: SQLOutputValue): number => Number(v);
const numOrNull = (v: SQLOutputValue): number | null => v === null ? null : Number(v);

function toPortState(r: Row): PortState {
  return {
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    host: str(r.host),
    port: num(r.port),
    up: num(r.up) === 1,
    since: num(r.since),
    error: str(r.error),
    agentId: str(r.agent_id),
  };
}

function toEvent(r: Row): TenantEvent {
  return {
    seq: num(r.seq),
    tenantId: str(r.tenant_id),
    type: str(r.type) as EventType,
    at: num(r.at),
    subject: JSON.parse(str(r.subject)),
    actor: str(r.actor),
    detail: JSON.parse(str(r.detail)),
    readAt: numOrNull(r.read_at),
  };
}

function toWebhook(r: Row): Webhook {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    url: str(r.url),
    events: JSON.parse(str(r.events)),
    format: (str(r.format) || "auto") as WebhookFormat,
    schedule: r.schedule == null ? null : JSON.parse(str(r.schedule)),
    digest: r.digest == null ? null : JSON.parse(str(r.digest)),
    secretSeed: str(r.secret_seed),
    createdAt: num(r.created_at),
    createdBy: str(r.created_by),
  };
}

function toDelivery(r: Row): WebhookDelivery {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    webhookId: str(r.webhook_id),
    eventType: str(r.event_type),
    body: str(r.body),
    state: str(r.state) as WebhookDelivery["state"],
    attempts: JSON.parse(str(r.attempts)),
    nextAttemptAt: num(r.next_attempt_at),
    createdAt: num(r.created_at),
    claimedBy: r.claimed_by === null ? null : str(r.claimed_by),
  };
}

/**
 * A reader's unread count (parameters: tenant, watermark, tenant, reader): the events unread
 * tenant-wide (the partial index events_unread) above the reader's watermark, less the ones it
 * marked one by one. Exported for the query-plan test.
 */
export const UNREAD_COUNT_SQL =
  `SELECT COUNT(*) AS n FROM events WHERE tenant_id = ? AND read_at IS NULL AND seq > ?
     AND seq NOT IN (SELECT seq FROM event_reads WHERE tenant_id = ? AND reader = ?)`;

/**
 * The statement {@linkcode SqliteAlerts.listEvents} runs for a query (null: it matches nothing).
 * Only the conditions asked for, so SQLite can use the index that fits: a bound on seq that was
 * always there (`seq < MAX`) made it walk events_tenant for a site's, a device's or some types'
 * events — all 90 days of the tenant's for a quiet camera. And `type IN (…)` cannot read
 * events_tenant_type in seq order, so some types are one newest-first page per type, merged.
 * `readUpto`: the reader's watermark, for `unread`. Exported for the test that reads its plans.
 */
export function eventsQuery(
  tenantId: string,
  q: EventQuery,
  readUpto = 0,
): { sql: string; params: SQLInputValue[] } | null {
  const where = ["tenant_id = ?"];
  const args: SQLInputValue[] = [tenantId];
  const add = (sql: string, v?: SQLInputValue) => {
    where.push(sql);
    if (v !== undefined) args.push(v);
  };
  if (q.before !== undefined) add("seq < ?", q.before);
  if (q.after !== undefined) add("seq > ?", q.after);
  if (q.unread) {
    add("read_at IS NULL"); // the partial index events_unread
    if (q.reader) {
      // Unread for this reader: above its watermark and not marked one by one.
      add("seq > ?", readUpto);
      where.push("seq NOT IN (SELECT seq FROM event_reads WHERE tenant_id = ? AND reader = ?)");
      args.push(tenantId, q.reader.id);
    }
  }
  if (q.deviceId !== undefined) add("device_id = ?", q.deviceId);
  if (q.siteId !== undefined) add("site_id = ?", q.siteId);
  const limit = eventLimit(q.limit);
  const page = (extra: string) =>
    `SELECT * FROM events WHERE ${where.join(" AND ")}${extra} ORDER BY seq DESC LIMIT ?`;
  if (!q.types) return { sql: page(""), params: [...args, limit] };
  const types = [...new Set(q.types)];
  if (!types.length) return null;
  if (types.length === 1) return { sql: page(" AND type = ?"), params: [...args, types[0], limit] };
  const pages = types.map(() => `SELECT * FROM (${page(" AND type = ?")})`);
  return {
    sql: `SELECT * FROM (${pages.join(" UNION ALL ")}) ORDER BY seq DESC LIMIT ?`,
    params: [...types.flatMap((t) => [...args, t, limit]), limit],
  };
}

/** The statement helpers of the SQLite store this part runs on (one connection). */
export interface SqliteAccess {
  get(sql: string, ...p: SQLInputValue[]): Row | undefined;
  all(sql: string, ...p: SQLInputValue[]): Row[];
  /** Runs `sql`; returns how many rows it changed. */
  run(sql: string, ...p: SQLInputValue[]): number;
  /** Runs `fn` in one write transaction. */
  tx<T>(fn: () => T): T;
}

/**
 * The SQL of {@linkcode Store.pagePortStates} (`filtered`: only up or only down states, one more
 * parameter after the site), exported for the query-plan test. The primary key (site_id, host,
 * port) walks the page, or port_states_site_up in the same order when filtered; each state's pair
 * is looked up on the devices of its host (devices_site_host), so a page costs its own rows, not
 * the site's. `s.host || ''` carries no column affinity: compared with the bare column, SQLite
 * used devices_site_host for the site alone and read every device of the site for each state
 * (290 ms for a page of 1 000 down states at 10 000 devices; 3.6 ms with it).
 */
export function pagePortStatesSql(filtered: boolean): string {
  return `SELECT s.* FROM port_states AS s
        WHERE s.site_id = ? ${filtered ? "AND s.up = ?" : ""} AND s.tenant_id = ?
          AND (s.host > ? OR (s.host = ? AND s.port > ?))
          AND EXISTS (SELECT 1 FROM devices AS d INDEXED BY devices_site_host, json_each(d.ports) AS p
                       WHERE d.site_id = s.site_id AND lower(d.host) = s.host || ''
                         AND d.tenant_id = s.tenant_id AND p.value = s.port)
        ORDER BY s.host, s.port
        LIMIT ?`;
}

/** Reachability, events and webhooks over the SQLite store's connection. */
export class SqliteAlerts implements AlertStore {
  readonly #db: SqliteAccess;
  readonly #clock: Clock;

  /** Binds to the store's statement helpers and clock. */
  constructor(db: SqliteAccess, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  #get(sql: string, ...p: SQLInputValue[]): Row | undefined {
    return this.#db.get(sql, ...p);
  }

  #all(sql: string, ...p: SQLInputValue[]): Row[] {
    return this.#db.all(sql, ...p);
  }

  #run(sql: string, ...p: SQLInputValue[]): number {
    return this.#db.run(sql, ...p);
  }

  #tx<T>(fn: () => T): T {
    return this.#db.tx(fn);
  }

  async recordPortState(s: PortState): Promise<PortStateChange> {
    return this.#tx(() => this.#compareAndSet(s));
  }

  async recordPortStates(states: PortState[]): Promise<PortStateChange[]> {
    if (!states.length) return [];
    return this.#tx(() => states.map((s) => this.#compareAndSet(s)));
  }

  /** One pair's compare-and-set, inside the caller's write transaction. */
  #compareAndSet(s: PortState): PortStateChange {
    const prev = this.#get(
      "SELECT up FROM port_states WHERE site_id = ? AND host = ? AND port = ?",
      s.siteId,
      s.host,
      s.port,
    );
    const previous = prev ? num(prev.up) === 1 : null;
    if (previous === s.up) {
      this.#run(
        "UPDATE port_states SET error = ?, agent_id = ? WHERE site_id = ? AND host = ? AND port = ?",
        s.error,
        s.agentId,
        s.siteId,
        s.host,
        s.port,
      );
      return { changed: false, previous };
    }
    this.#run(
      `INSERT OR REPLACE INTO port_states
         (site_id, host, port, tenant_id, up, since, error, agent_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      s.siteId,
      s.host,
      s.port,
      s.tenantId,
      s.up ? 1 : 0,
      s.since,
      s.error,
      s.agentId,
    );
    return { changed: true, previous };
  }

  async countPortStates(tenantId: string, siteId: string): Promise<PortStateCounts> {
    // The allowlist's pairs (as getAllowlist builds it), each looked up by port_states' key.
    const r = this.#get(
      `WITH pairs AS (
         SELECT DISTINCT lower(d.host) AS host, p.value AS port
           FROM devices AS d, json_each(d.ports) AS p
          WHERE d.site_id = ? AND d.tenant_id = ?)
       SELECT (SELECT COUNT(*) FROM pairs) AS total, COUNT(s.up) AS checked,
              COALESCE(SUM(s.up), 0) AS up
         FROM pairs JOIN port_states AS s
           ON s.site_id = ? AND s.host = pairs.host AND s.port = pairs.port AND s.tenant_id = ?`,
      siteId,
      tenantId,
      siteId,
      tenantId,
    )!;
    return { total: num(r.total), checked: num(r.checked), up: num(r.up) };
  }

  async getPortStatesOf(tenantId: string, siteId: string, hosts: string[]): Promise<PortState[]> {
    if (!hosts.length) return [];
    return this.#all(
      `SELECT * FROM port_states WHERE site_id = ? AND tenant_id = ?
          AND host IN (SELECT value FROM json_each(?))
        ORDER BY host, port`,
      siteId,
      tenantId,
      JSON.stringify(hosts),
    ).map(toPortState);
  }

  async pagePortStates(
    tenantId: string,
    siteId: string,
    q: PortStatePageQuery,
  ): Promise<PortState[]> {
    const after = q.after ?? { host: "", port: -1 };
    const up = q.up === undefined ? [] : [q.up ? 1 : 0];
    return this.#all(
      pagePortStatesSql(q.up !== undefined),
      siteId,
      ...up,
      tenantId,
      after.host,
      after.host,
      after.port,
      q.limit,
    ).map(toPortState);
  }

  async listAgentAvailability(agentIds?: string[]): Promise<AgentAvailability[]> {
    const rows = agentIds === undefined
      ? this.#all("SELECT * FROM agent_availability ORDER BY agent_id")
      : this.#all(
        `SELECT * FROM agent_availability WHERE agent_id IN (SELECT value FROM json_each(?))
          ORDER BY agent_id`,
        JSON.stringify(agentIds),
      );
    return rows.map((r) => ({
      agentId: str(r.agent_id),
      tenantId: str(r.tenant_id),
      siteId: str(r.site_id),
      online: num(r.online) === 1,
      since: num(r.since),
      absentSince: numOrNull(r.absent_since),
    }));
  }

  async putAgentAvailability(a: AgentAvailability): Promise<void> {
    this.#run(
      `INSERT OR REPLACE INTO agent_availability
         (agent_id, tenant_id, site_id, online, since, absent_since) VALUES (?, ?, ?, ?, ?, ?)`,
      a.agentId,
      a.tenantId,
      a.siteId,
      a.online ? 1 : 0,
      a.since,
      a.absentSince,
    );
  }

  async appendEvent(e: NewTenantEvent): Promise<TenantEvent | null> {
    const at = this.#clock.now();
    const subject = JSON.parse(JSON.stringify(e.subject));
    const detail = JSON.parse(JSON.stringify(e.detail ?? {}));
    const r = this.#get(
      `INSERT INTO events (key, tenant_id, type, at, subject, actor, detail)
       VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING RETURNING seq`,
      e.key,
      e.tenantId,
      e.type,
      at,
      JSON.stringify(subject),
      e.actor,
      JSON.stringify(detail),
    );
    if (!r) return null;
    return {
      seq: num(r.seq),
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
    const reader = q.reader ? this.#reader(tenantId, q.reader) : null;
    const query = eventsQuery(tenantId, q, reader?.upto);
    const events = query ? this.#all(query.sql, ...query.params).map(toEvent) : [];
    if (!q.reader || !reader || !events.length) return events;
    // Read for this reader: under its watermark, or marked one by one.
    const unread = events.filter((e) => e.readAt === null);
    for (const e of unread) if (e.seq <= reader.upto) e.readAt = reader.uptoAt;
    const above = unread.filter((e) => e.seq > reader.upto);
    if (above.length) {
      const marks = new Map(
        this.#all(
          `SELECT seq, read_at FROM event_reads WHERE tenant_id = ? AND reader = ?
             AND seq IN (SELECT value FROM json_each(?))`,
          tenantId,
          q.reader.id,
          JSON.stringify(above.map((e) => e.seq)),
        ).map((r) => [num(r.seq), num(r.read_at)]),
      );
      for (const e of above) e.readAt = marks.get(e.seq) ?? null;
    }
    return events;
  }

  /**
   * The reader's watermark, made on its first use: the newest event from before `since` (a new
   * user has read nothing of what came after its account, everything before).
   */
  #reader(tenantId: string, reader: EventReader): { upto: number; uptoAt: number } {
    const row = () =>
      this.#get(
        "SELECT read_upto, read_upto_at FROM event_readers WHERE tenant_id = ? AND reader = ?",
        tenantId,
        reader.id,
      );
    let r = row();
    if (!r) {
      // The newest event from before `since`: walks back from the newest over what came after.
      const before = reader.since > 0
        ? this.#get(
          `SELECT seq FROM events WHERE tenant_id = ? AND at < ? ORDER BY seq DESC LIMIT 1`,
          tenantId,
          reader.since,
        )
        : undefined;
      this.#run(
        `INSERT INTO event_readers (tenant_id, reader, read_upto, read_upto_at) VALUES (?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
        tenantId,
        reader.id,
        before ? num(before.seq) : 0,
        reader.since,
      );
      r = row()!;
    }
    return { upto: num(r.read_upto), uptoAt: num(r.read_upto_at) };
  }

  async countUnreadEvents(tenantId: string, reader: EventReader): Promise<number> {
    return this.#countUnread(tenantId, reader);
  }

  #countUnread(tenantId: string, reader: EventReader): number {
    const { upto } = this.#reader(tenantId, reader);
    return num(
      this.#get(
        UNREAD_COUNT_SQL,
        tenantId,
        upto,
        tenantId,
        reader.id,
      )!.n,
    );
  }

  async markEventsRead(
    tenantId: string,
    reader: EventReader,
    seqs: number[] | "all",
  ): Promise<number> {
    const now = this.#clock.now();
    return this.#tx(() => {
      const { upto } = this.#reader(tenantId, reader);
      if (seqs === "all") {
        // One write, however many there are (a tenant that never reads has 90 days of them):
        // the watermark moves to the newest event there is now; one arriving after stays unread.
        const newest = this.#get("SELECT max(seq) AS s FROM events WHERE tenant_id = ?", tenantId)!;
        if (newest.s === null || num(newest.s) <= upto) return 0;
        const marked = this.#countUnread(tenantId, reader);
        this.#run(
          `UPDATE event_readers SET read_upto = ?, read_upto_at = ?
             WHERE tenant_id = ? AND reader = ? AND read_upto < ?`,
          num(newest.s),
          now,
          tenantId,
          reader.id,
          num(newest.s),
        );
        this.#run(
          "DELETE FROM event_reads WHERE tenant_id = ? AND reader = ? AND seq <= ?",
          tenantId,
          reader.id,
          num(newest.s),
        );
        return marked;
      }
      return seqs.reduce(
        (n, seq) =>
          n +
          this.#run(
            `INSERT INTO event_reads (tenant_id, reader, seq, at, read_at)
               SELECT tenant_id, ?, seq, at, ? FROM events
                WHERE tenant_id = ? AND seq = ? AND seq > ? AND read_at IS NULL
               ON CONFLICT DO NOTHING`,
            reader.id,
            now,
            tenantId,
            seq,
            upto,
          ),
        0,
      );
    });
  }

  async createWebhook(w: Omit<Webhook, "id" | "createdAt">): Promise<Webhook> {
    return this.#insertWebhook(w);
  }

  #insertWebhook(w: Omit<Webhook, "id" | "createdAt">): Webhook {
    const hook: Webhook = {
      ...w,
      format: w.format ?? "auto",
      schedule: w.schedule ?? null,
      digest: w.digest ?? null,
      id: newId("wh"),
      createdAt: this.#clock.now(),
    };
    this.#run(
      `INSERT INTO webhooks (id, tenant_id, url, events, format, schedule, digest, secret_seed,
         created_at, created_by)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      hook.id,
      hook.tenantId,
      hook.url,
      JSON.stringify(hook.events),
      hook.format ?? "auto",
      hook.schedule ? JSON.stringify(hook.schedule) : null,
      hook.digest ? JSON.stringify(hook.digest) : null,
      hook.secretSeed,
      hook.createdAt,
      hook.createdBy,
    );
    return hook;
  }

  async createWebhookUnder(
    w: Omit<Webhook, "id" | "createdAt">,
    max: number,
  ): Promise<Webhook | null> {
    // One transaction: the count and the insert see the same rows (SQLite serializes writers).
    const full = () =>
      Number(this.#get("SELECT count(*) AS n FROM webhooks WHERE tenant_id = ?", w.tenantId)!.n) >=
        max;
    return this.#tx(() => full() ? null : this.#insertWebhook(w));
  }

  async listWebhooks(tenantId: string): Promise<Webhook[]> {
    return this.#all(
      "SELECT * FROM webhooks WHERE tenant_id = ? ORDER BY created_at, rowid",
      tenantId,
    ).map(toWebhook);
  }

  async getWebhook(tenantId: string, id: string): Promise<Webhook | null> {
    const r = this.#get("SELECT * FROM webhooks WHERE tenant_id = ? AND id = ?", tenantId, id);
    return r ? toWebhook(r) : null;
  }

  async updateWebhook(
    tenantId: string,
    id: string,
    patch: WebhookPatch,
  ): Promise<Webhook | null> {
    const r = this.#get(
      `UPDATE webhooks SET events = coalesce(?, events), format = coalesce(?, format),
         schedule = CASE WHEN ? THEN ? ELSE schedule END,
         digest = CASE WHEN ? THEN ? ELSE digest END
       WHERE tenant_id = ? AND id = ? RETURNING *`,
      patch.events ? JSON.stringify(patch.events) : null,
      patch.format ?? null,
      patch.schedule !== undefined ? 1 : 0,
      patch.schedule ? JSON.stringify(patch.schedule) : null,
      patch.digest !== undefined ? 1 : 0,
      patch.digest ? JSON.stringify(patch.digest) : null,
      tenantId,
      id,
    );
    return r ? toWebhook(r) : null;
  }

  async deleteWebhook(tenantId: string, id: string): Promise<boolean> {
    return this.#tx(() => {
      if (!this.#get("SELECT id FROM webhooks WHERE tenant_id = ? AND id = ?", tenantId, id)) {
        return false;
      }
      this.#run("DELETE FROM webhook_deliveries WHERE webhook_id = ?", id);
      return this.#run("DELETE FROM webhooks WHERE id = ?", id) > 0;
    });
  }

  async createDelivery(d: NewDelivery): Promise<boolean> {
    const now = this.#clock.now();
    return this.#run(
      `INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, body, state,
         attempts, next_attempt_at, created_at, claimed_by)
       SELECT ?, ?, ?, ?, ?, 'pending', '[]', ?, ?, NULL
       WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ? AND tenant_id = ?)
       ON CONFLICT (id) DO NOTHING`,
      d.id,
      d.tenantId,
      d.webhookId,
      d.eventType,
      d.body,
      d.dueAt ?? now,
      now,
      d.webhookId,
      d.tenantId,
    ) > 0;
  }

  async claimDelivery(
    owner: string,
    leaseMs: number,
    skipWebhooks: string[] = [],
  ): Promise<WebhookDelivery | null> {
    const now = this.#clock.now();
    return this.#tx(() => {
      const r = skipWebhooks.length
        ? this.#oldestDueOfOthers(now, new Set(skipWebhooks))
        : this.#get(
          `SELECT * FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ?
           ORDER BY next_attempt_at LIMIT 1`,
          now,
        );
      if (!r) return null;
      this.#run(
        "UPDATE webhook_deliveries SET next_attempt_at = ?, claimed_by = ? WHERE id = ?",
        now + leaseMs,
        owner,
        str(r.id),
      );
      return { ...toDelivery(r), nextAttemptAt: now + leaseMs, claimedBy: owner };
    });
  }

  /**
   * The most overdue pending delivery of a webhook not in `skip`. Walks the webhooks that have
   * pending deliveries with one seek each on webhook_deliveries_pending (migration 21), so the
   * cost follows the number of such webhooks, never the size of one receiver's backlog.
   */
  #oldestDueOfOthers(now: number, skip: Set<string>): Row | undefined {
    let best: Row | undefined;
    let after = "";
    while (true) {
      const hook = this.#get(
        `SELECT webhook_id FROM webhook_deliveries WHERE state = 'pending' AND webhook_id > ?
         ORDER BY webhook_id LIMIT 1`,
        after,
      );
      if (!hook) return best;
      after = str(hook.webhook_id);
      if (skip.has(after)) continue;
      const due = this.#get(
        `SELECT * FROM webhook_deliveries
          WHERE state = 'pending' AND webhook_id = ? AND next_attempt_at <= ?
          ORDER BY next_attempt_at LIMIT 1`,
        after,
        now,
      );
      if (due && (!best || num(due.next_attempt_at) < num(best.next_attempt_at))) best = due;
    }
  }

  async finishDeliveryAttempt(
    id: string,
    owner: string,
    attempt: DeliveryAttempt,
    next: { state: WebhookDelivery["state"]; nextAttemptAt: number },
  ): Promise<boolean> {
    return this.#tx(() => {
      const r = this.#get(
        "SELECT attempts FROM webhook_deliveries WHERE id = ? AND claimed_by = ? AND state = 'pending'",
        id,
        owner,
      );
      if (!r) return false;
      const attempts = [...JSON.parse(str(r.attempts)), attempt];
      this.#run(
        `UPDATE webhook_deliveries SET attempts = ?, state = ?, next_attempt_at = ?,
           claimed_by = NULL WHERE id = ?`,
        JSON.stringify(attempts),
        next.state,
        next.nextAttemptAt,
        id,
      );
      return true;
    });
  }

  async listDeliveries(tenantId: string, webhookId: string, limit = 50) {
    return this.#all(
      `SELECT * FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?
       ORDER BY created_at DESC, rowid DESC LIMIT ?`,
      tenantId,
      webhookId,
      Math.min(Math.max(1, limit), 500),
    ).map(toDelivery);
  }

  async purgeEvents(before: number): Promise<{ events: number; deliveries: number }> {
    // A page of rows per statement, with a turn of the event loop between pages (as the
    // statistics jobs do): 90 days of a busy tenant's events are millions of rows, and one
    // statement deleting them all would hold every tunnel of the node for seconds.
    const events = await this.#inPages(() =>
      this.#run(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE at < ? LIMIT ?)",
        before,
        PURGE_PAGE,
      )
    );
    // Marks of events that are gone (the events' own times).
    await this.#inPages(() =>
      this.#run(
        `DELETE FROM event_reads WHERE (tenant_id, reader, seq) IN
          (SELECT tenant_id, reader, seq FROM event_reads WHERE at < ? LIMIT ?)`,
        before,
        PURGE_PAGE,
      )
    );
    const deliveries = await this.#inPages(() =>
      this.#run(
        `DELETE FROM webhook_deliveries WHERE rowid IN (SELECT rowid FROM webhook_deliveries
          WHERE created_at < ? AND state != 'pending' LIMIT ?)`,
        before,
        PURGE_PAGE,
      )
    );
    return { events, deliveries };
  }

  /** Runs `page` until it deletes fewer than a page, yielding between pages; the sum. */
  async #inPages(page: () => number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = page();
      total += n;
      if (n < PURGE_PAGE) return total;
      await loopTurn();
    }
  }
}
