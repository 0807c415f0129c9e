/**
 * The MongoDB store's layout: collection names, the indexes created (idempotently) at start,
 * and the mapping between documents and records. Uniqueness (emails, loopback addresses,
 * serials, token hashes, handles) lives in unique indexes and `_id`s, never in read-then-write
 * checks, so two nodes racing on one database cannot both win. Also the small helpers every
 * part of the MongoDB store shares ({@linkcode MongoBase}, {@linkcode upsert}).
 * @module
 */
import { type Collection, type Db, type Document, type Filter, MongoServerError } from "mongodb";
import type { Clock } from "../../shared/clock.ts";

/** Collection names. */
export const C = {
  tenants: "tenants",
  sites: "sites",
  agents: "agents",
  devices: "devices",
  handles: "handles",
  enrollmentTokens: "enrollment_tokens",
  users: "users",
  apiTokens: "api_tokens",
  webSessions: "web_sessions",
  cliSessions: "cli_sessions",
  apiKeys: "api_keys",
  licenses: "licenses",
  deviceCredentials: "device_credentials",
  audit: "audit",
  presence: "agent_presence",
  locks: "locks",
  counters: "counters",
  agentCounters: "agent_counters",
  hourly: "stats_hourly",
  daily: "stats_daily",
  userInvites: "user_invites",
  sshHostKeys: "ssh_host_keys",
  terminalPolicies: "terminal_policies",
  recordings: "terminal_recordings",
  portStates: "port_states",
  agentAvailability: "agent_availability",
  events: "events",
  eventReaders: "event_readers",
  eventReads: "event_reads",
  webhooks: "webhooks",
  deliveries: "webhook_deliveries",
  nodes: "nodes",
  liveFailures: "live_failures",
  motionStatus: "motion_status",
  eventSnapshots: "event_snapshots",
  rateWindows: "rate_windows",
} as const;

/**
 * Write concern for writes that grant or withdraw access. A replica set that cannot reach a
 * majority answers within 5 s (WriteConcernFailed: `store_unavailable`, 503) instead of holding
 * the request: the write may then exist on the primary only, and a retry is idempotent.
 */
export const SECURE = { writeConcern: { w: "majority" as const, wtimeoutMS: 5_000 } };

/** Index specifications per collection: [keys, options]. */
const INDEXES: [string, Document, { unique?: boolean; name: string }][] = [
  [C.sites, { tenantId: 1, createdAt: 1, ord: 1 }, { name: "tenant" }],
  [C.agents, { tenantId: 1, siteId: 1, createdAt: 1, ord: 1 }, { name: "tenant_site" }],
  [C.agents, { certNotAfter: 1, ord: 1 }, { name: "cert_not_after" }],
  [C.agents, { tenantId: 1, createdAt: 1, ord: 1 }, { name: "tenant_created" }],
  [C.devices, { loopbackN: 1 }, { unique: true, name: "loopback_n" }],
  [C.devices, { loopbackIp: 1 }, { unique: true, name: "loopback_ip" }],
  // A device without a serial stores `serialKey: "none:<id>"`, so the unique index holds
  // without partial-index support (FerretDB has none).
  [C.devices, { serialKey: 1 }, { unique: true, name: "serial" }],
  [C.devices, { tenantId: 1, siteId: 1, createdAt: 1, ord: 1 }, { name: "tenant_site" }],
  [C.devices, { siteId: 1 }, { name: "site" }],
  [C.devices, { siteId: 1, host: 1 }, { name: "site_host" }],
  [C.devices, { motionAlerts: 1, createdAt: 1 }, { name: "motion_alerts" }],
  [C.devices, { tenantId: 1, alertsSnoozedUntil: 1 }, { name: "tenant_snoozed" }],
  [C.handles, { deviceId: 1, port: 1, createdAt: -1 }, { name: "device_port" }],
  [C.enrollmentTokens, { tenantId: 1, siteId: 1, createdAt: -1 }, { name: "tenant_site" }],
  [C.users, { email: 1 }, { unique: true, name: "email" }],
  [C.apiTokens, { tenantId: 1, userId: 1 }, { name: "tenant_user" }],
  [C.webSessions, { expiresAt: 1 }, { name: "expires" }],
  [C.cliSessions, { tenantId: 1, createdAt: -1 }, { name: "tenant" }],
  [C.apiKeys, { hash: 1 }, { unique: true, name: "hash" }],
  [C.licenses, { hash: 1 }, { unique: true, name: "hash" }],
  [C.audit, { tenantId: 1, _id: -1 }, { name: "tenant_seq" }],
  [C.audit, { tenantId: 1, action: 1, _id: -1 }, { name: "tenant_action_seq" }],
  [C.presence, { siteId: 1, expiresAt: 1 }, { name: "site_expires" }],
  [C.presence, { tenantId: 1, expiresAt: 1 }, { name: "tenant_expires" }],
  [C.rateWindows, { expiresAt: 1 }, { name: "expires" }],
  [C.eventSnapshots, { deviceId: 1, at: -1 }, { name: "device_at" }],
  [C.eventSnapshots, { at: 1 }, { name: "at" }],
  [C.hourly, { tenantId: 1, agentId: 1, hour: 1 }, { name: "tenant_agent_hour" }],
  [C.hourly, { hour: 1 }, { name: "hour" }],
  [C.daily, { tenantId: 1, agentId: 1, day: 1 }, { name: "tenant_agent_day" }],
  [C.userInvites, { userId: 1 }, { name: "user" }],
  [C.users, { tenantId: 1, createdAt: 1, ord: 1 }, { name: "tenant" }],
  [C.sshHostKeys, { deviceId: 1 }, { name: "device" }],
  [C.recordings, { tenantId: 1, endedAt: -1, ord: -1 }, { name: "tenant_ended" }],
  [C.portStates, { tenantId: 1, siteId: 1 }, { name: "tenant_site" }],
  [C.portStates, { siteId: 1, host: 1 }, { name: "site_host" }],
  // A site's down (or up) pairs in (host, port) order: the reachability API's `?state=down`.
  [C.portStates, { siteId: 1, up: 1, host: 1, port: 1 }, { name: "site_up_host" }],
  [C.events, { key: 1 }, { unique: true, name: "key" }],
  [C.events, { tenantId: 1, _id: -1 }, { name: "tenant_seq" }],
  [C.events, { at: 1 }, { name: "at" }],
  [C.events, { tenantId: 1, readAt: 1, _id: -1 }, { name: "tenant_unread" }],
  [C.events, { tenantId: 1, type: 1, _id: -1 }, { name: "tenant_type" }],
  [C.events, { tenantId: 1, deviceId: 1, _id: -1 }, { name: "tenant_device" }],
  [C.events, { tenantId: 1, siteId: 1, _id: -1 }, { name: "tenant_site" }],
  [C.eventReads, { tenantId: 1, reader: 1, seq: 1 }, { name: "tenant_reader_seq" }],
  [C.eventReads, { at: 1 }, { name: "at" }],
  [C.webhooks, { tenantId: 1, createdAt: 1, ord: 1 }, { name: "tenant" }],
  [C.deliveries, { state: 1, nextAttemptAt: 1 }, { name: "due" }],
  [C.deliveries, { webhookId: 1, createdAt: -1, ord: -1 }, { name: "webhook" }],
  [C.deliveries, { createdAt: 1 }, { name: "created" }],
];

/** Creates every collection's indexes; safe to run on every start and from several nodes. */
export async function ensureIndexes(db: Db): Promise<void> {
  for (const [coll, keys, opts] of INDEXES) {
    await db.collection(coll).createIndex(keys, opts);
  }
}

/** Whether `e` is a duplicate-key error (E11000) from a unique index or `_id`. */
export function isDuplicateKey(e: unknown): boolean {
  return e instanceof MongoServerError && e.code === 11000;
}

/** The record fields of each stored type, in declaration order (documents carry more). */
export const FIELDS = {
  tenant: ["id", "name", "createdAt"],
  site: [
    "id",
    "tenantId",
    "name",
    "allowlistVersion",
    "createdAt",
    "alertsPausedUntil",
    "alertsPausedBy",
  ],
  agent: [
    "id",
    "tenantId",
    "siteId",
    "hostname",
    "version",
    "os",
    "certSerial",
    "label",
    "certNotAfter",
    "certCa",
    "createdAt",
    "revokedAt",
  ],
  device: [
    "id",
    "tenantId",
    "siteId",
    "host",
    "ports",
    "protocols",
    "streamPaths",
    "subStreamPaths",
    "motionAlerts",
    "alertQuietSeconds",
    "alertsSnoozedUntil",
    "liveSound",
    "manufacturer",
    "model",
    "firmware",
    "label",
    "notes",
    "loopbackIp",
    "createdAt",
    "updatedAt",
    "serial",
    "claimedAgentId",
  ],
  handle: [
    "id",
    "tenantId",
    "siteId",
    "deviceId",
    "port",
    "agentId",
    "createdAt",
    "expiresAt",
    "revokedAt",
  ],
  enrollmentToken: [
    "hash",
    "tenantId",
    "siteId",
    "createdAt",
    "expiresAt",
    "usedAt",
    "agentId",
    "keyPin",
  ],
  user: ["id", "tenantId", "email", "passwordHash", "role", "createdAt", "disabledAt"],
  userInvite: ["hash", "tenantId", "userId", "createdAt", "expiresAt", "usedAt"],
  apiToken: ["hash", "tenantId", "userId", "name", "createdAt", "lastUsedAt", "revokedAt"],
  webSession: ["hash", "tenantId", "userId", "csrfHash", "createdAt", "expiresAt"],
  cliSession: [
    "hash",
    "tenantId",
    "siteIds",
    "operator",
    "externalOperatorId",
    "issuer",
    "issuerRef",
    "createdAt",
    "expiresAt",
    "hardCapAt",
    "lastUsedAt",
    "revokedAt",
  ],
  apiKey: ["id", "tenantId", "hash", "name", "allowedCidr", "createdAt", "revokedAt"],
  license: ["id", "tenantId", "hash", "createdAt", "revokedAt"],
  deviceCredentials: ["tenantId", "deviceId", "sealed", "updatedAt"],
  audit: ["seq", "tenantId", "at", "actor", "action", "target", "detail"],
  presence: [
    "agentId",
    "tenantId",
    "siteId",
    "node",
    "endpoint",
    "lastHeartbeat",
    "expiresAt",
    "activeStreams",
    "bytesUp",
    "bytesDown",
    "dataBlocked",
  ],
  agentCounters: ["agentId", "tenantId", "day", "bytesUp", "bytesDown", "tunnels", "at"],
  hourly: ["agentId", "tenantId", "hour", "bytesUp", "bytesDown", "tunnels"],
  daily: ["agentId", "tenantId", "day", "bytesUp", "bytesDown", "tunnels"],
  sshHostKey: [
    "tenantId",
    "deviceId",
    "port",
    "algorithm",
    "fingerprint",
    "pinnedAt",
    "offeredAlgorithm",
    "offeredFingerprint",
    "offeredAt",
  ],
  terminalPolicy: [
    "maxPerUser",
    "maxPerDevice",
    "idleTimeoutMs",
    "maxSessionMs",
    "recordInput",
    "retentionMs",
  ],
  recording: [
    "id",
    "tenantId",
    "deviceId",
    "port",
    "handle",
    "actor",
    "startedAt",
    "endedAt",
    "endReason",
  ],
} as const;

/** Copies the record fields `keys` out of a document (dropping `_id` and bookkeeping fields). */
export function pick<T>(doc: Document, keys: readonly string[]): T {
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = doc[k] === undefined ? null : doc[k];
  return out as T;
}

/** `pick` for a document that may be absent. */
export function pickOrNull<T>(doc: Document | null, keys: readonly string[]): T | null {
  return doc ? pick<T>(doc, keys) : null;
}

let lastOrd = 0;

/**
 * A tie-breaker for records created in the same millisecond: strictly increasing within one
 * process, roughly wall-clock ordered across nodes (like SQLite's rowid within one file).
 */
export function nextOrd(): number {
  lastOrd = Math.max(lastOrd + 1, Date.now() * 1000);
  return lastOrd;
}

/**
 * Runs an upsert, retrying when a concurrent upsert of the same `_id` inserted first (the
 * server answers E11000 to the loser; retried, it matches the now existing document).
 */
export async function upsert<T>(op: () => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (!isDuplicateKey(e) || attempt >= 5) throw e;
    }
  }
}

/** What the parts of the MongoDB store share: the database, the clock, list helpers. */
export abstract class MongoBase {
  readonly #db: Db;
  readonly #clock: Clock;

  /** Binds the part to a database and a clock. */
  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** A collection by name. */
  protected c(name: string): Collection<Document> {
    return this.#db.collection(name);
  }

  /** The injected clock's time. */
  protected now(): number {
    return this.#clock.now();
  }

  /** The records of `fields` from every document matching `filter`, sorted. */
  protected async list<T>(
    coll: string,
    filter: Filter<Document>,
    fields: readonly string[],
    sort: Document,
  ): Promise<T[]> {
    const docs = await this.c(coll).find(filter).sort(sort).toArray();
    return docs.map((d) => pick<T>(d, fields));
  }

  /** Sets `field` = now on one document matching `filter` whose field is still null. */
  protected async stamp(coll: string, filter: Filter<Document>, field: string): Promise<boolean> {
    const r = await this.c(coll).updateOne(
      { ...filter, [field]: null },
      { $set: { [field]: this.now() } },
      SECURE,
    );
    return r.modifiedCount > 0;
  }
}
