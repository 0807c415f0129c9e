/**
 * The embedded default {@linkcode Store}: one SQLite file through `node:sqlite`, so a
 * single-node cloud needs no database server. The file is opened in WAL mode with a busy
 * timeout, so an admin CLI in a second process can write while the cloud runs, and every
 * multi-step write is one `BEGIN IMMEDIATE` transaction, so a crash (even `kill -9`) leaves
 * either all of a change or none of it. The schema lives in `sqlite_migrations.ts`.
 * @module
 */
// deno-lint-ignore-file require-await -- node:sqlite is synchronous, but the methods stay async
// so a failing statement surfaces as a rejected promise, as with a network backend.
import {
  DatabaseSync,
  type SQLInputValue,
  type SQLOutputValue,
  type StatementSync,
} from "node:sqlite";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { newId } from "../../shared/ids.ts";
import { loopTurn } from "../../shared/time_slice.ts";
import { MIGRATIONS } from "./sqlite_migrations.ts";
import { SqliteAlerts } from "./sqlite_alerts.ts";
import {
  type Checkpointer,
  type CheckpointerOptions,
  startCheckpointer,
} from "./sqlite_checkpointer.ts";
import { normalizeProtocols, normalizeStreamPaths } from "./port_protocols.ts";
import {
  AUDIT_PURGE_PAGE,
  auditLimit,
  counterDeltas,
  dayOf,
  dayStart,
  hourOf,
  listSearch,
  LOOPBACK_CAPACITY,
  LOOPBACK_RANDOM_TRIES,
  loopbackAddress,
  newAgentRecord,
  newApiTokenRecord,
  newDeviceRecord,
  newUserRecord,
  normalizeEmail,
  normalizePorts,
  pageBounds,
  randomLoopbackIndex,
} from "./rules.ts";

export { LOOPBACK_CAPACITY, loopbackAddress };
import {
  DEFAULT_ALERT_QUIET_S,
  LIVE_FAILURE_KEEP_MS,
  type LiveFailure,
  SNAPSHOT_KEEP_MS,
  SNAPSHOTS_PER_DEVICE,
  type WebhookPatch,
} from "./store.ts";
import type {
  AgentAvailability,
  DeliveryAttempt,
  EventQuery,
  EventReader,
  NewDelivery,
  NewTenantEvent,
  PortState,
  PortStatePageQuery,
  Webhook,
  WebhookDelivery,
} from "./store.ts";
import type {
  Agent,
  AgentCert,
  AgentCounters,
  AgentCounts,
  AgentDailyStat,
  AgentHourlyStat,
  AgentPage,
  AgentQuery,
  Allowlist,
  AllowlistEntry,
  ApiKey,
  ApiToken,
  AuditEntry,
  AuditPurge,
  AuditQuery,
  ClaimResult,
  CliSession,
  ConsumeResult,
  Device,
  DeviceCredentialRecord,
  DeviceExtras,
  DevicePage,
  DevicePatch,
  DeviceQuery,
  EnrollmentToken,
  EventSnapshot,
  Handle,
  License,
  MotionStatusRecord,
  NewAgent,
  NewAuditEntry,
  NewDevice,
  NodeRecord,
  Presence,
  PresenceUpdate,
  PurgeCounts,
  PurgeCutoffs,
  Role,
  Site,
  SitePage,
  SiteQuery,
  SshHostKey,
  Store,
  Tenant,
  TerminalPolicy,
  TerminalRecording,
  User,
  UserInvite,
  WebSession,
} from "./store.ts";

/** Statements that write and return rows (see `#get`). */
const RETURNING = /\bRETURNING\b/;

/** How long a connection waits for another connection's write lock before failing. */
const BUSY_TIMEOUT_MS = 5000;

/**
 * Opens (creating if needed) the SQLite store at `opts.path` (a file path whose directory
 * exists, or ":memory:") and brings its schema up to date. Fails when the file was written by a
 * newer version of the code. `opts.clock` (default: the wall clock) supplies every timestamp.
 */
export async function openSqliteStore(opts: {
  path: string;
  clock?: Clock;
  /**
   * Checkpoint the WAL in a worker instead of inside commits (`sqlite_checkpointer.ts`; the
   * serving cloud does, short-lived commands need not). `onFallback` hears of a failed worker;
   * `everyMs` and `restartAtBytes` (tests) change the worker's defaults.
   */
  backgroundCheckpoints?: Pick<CheckpointerOptions, "onFallback" | "everyMs" | "restartAtBytes">;
  /** Told before and after an existing database's schema is upgraded (see `migrate`). */
  onUpgrade?: UpgradeListener;
}): Promise<Store> {
  const db = new DatabaseSync(opts.path);
  try {
    // busy_timeout first, so even switching to WAL waits for a concurrent opener.
    db.exec(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    db.exec("PRAGMA journal_mode = WAL"); // stays "memory" for ":memory:"
    // NORMAL is durable against process crashes in WAL mode; only power loss may drop the
    // last commits (never corrupt the file).
    db.exec("PRAGMA synchronous = NORMAL");
    db.exec("PRAGMA foreign_keys = ON");
    migrate(db, opts.path, opts.onUpgrade);
  } catch (e) {
    db.close();
    throw e;
  }
  const checkpointer = opts.backgroundCheckpoints && opts.path !== ":memory:"
    ? startCheckpointer(db, opts.path, opts.backgroundCheckpoints)
    : null;
  await checkpointer?.ready;
  return new SqliteStore(db, opts.clock ?? systemClock, checkpointer);
}

/**
 * Hears of a schema upgrade of an existing database: once before (no `tookMs`), once after.
 * Migrations run before the store serves anything, so a long one is worth a log line.
 */
export type UpgradeListener = (u: { from: number; to: number; tookMs?: number }) => void;

/** Applies the missing migrations in one transaction; refuses a newer schema. */
function migrate(db: DatabaseSync, path: string, onUpgrade?: UpgradeListener): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    const current = Number(db.prepare("PRAGMA user_version").get()!.user_version);
    if (current > MIGRATIONS.length) {
      throw new Error(
        `store database ${path} has schema version ${current}, but this build knows only up ` +
          `to version ${MIGRATIONS.length}; run a newer Nanodems Connector or restore a backup ` +
          "made by this one (connector cloud admin restore)",
      );
    }
    // A new file (version 0) is created at once; an existing one may take a while (an index
    // over years of audit entries), so its owner hears of it before and after.
    const upgrade = current > 0 && current < MIGRATIONS.length;
    const started = performance.now();
    if (upgrade) onUpgrade?.({ from: current, to: MIGRATIONS.length });
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    if (current < MIGRATIONS.length) db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec("COMMIT");
    if (upgrade) {
      onUpgrade?.({ from: current, to: MIGRATIONS.length, tookMs: performance.now() - started });
    }
  } catch (e) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw e;
  }
}

type Row = Record<string, SQLOutputValue>;

const str = (v: SQLOutputValue): string => v as string;
const num = (v: SQLOutputValue): number => Number(v);
const numOrNull = (v: SQLOutputValue): number | null => v === null ? null : Number(v);
const strOrNull = (v: SQLOutputValue): string | null => v === null ? null : String(v);

function toTenant(r: Row): Tenant {
  return { id: str(r.id), name: str(r.name), createdAt: num(r.created_at) };
}

function toUserInvite(r: Row): UserInvite {
  return {
    hash: str(r.hash),
    tenantId: str(r.tenant_id),
    userId: str(r.user_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    usedAt: r.used_at === null ? null : num(r.used_at),
  };
}

function toHourlyStat(r: Row): AgentHourlyStat {
  return {
    agentId: str(r.agent_id),
    tenantId: str(r.tenant_id),
    hour: num(r.hour),
    bytesUp: num(r.bytes_up),
    bytesDown: num(r.bytes_down),
    tunnels: num(r.tunnels),
  };
}

function toSite(r: Row): Site {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    name: str(r.name),
    allowlistVersion: num(r.allowlist_version),
    createdAt: num(r.created_at),
    alertsPausedUntil: r.alerts_paused_until == null ? null : num(r.alerts_paused_until),
    alertsPausedBy: r.alerts_paused_by == null ? null : str(r.alerts_paused_by),
  };
}

function toAgent(r: Row): Agent {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    hostname: str(r.hostname),
    version: str(r.version),
    os: str(r.os),
    certSerial: str(r.cert_serial),
    label: str(r.label ?? ""),
    certNotAfter: numOrNull(r.cert_not_after),
    certCa: strOrNull(r.cert_ca),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toDevice(r: Row): Device {
  const ports: number[] = JSON.parse(str(r.ports));
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    host: str(r.host),
    ports,
    protocols: normalizeProtocols(ports, undefined, JSON.parse(str(r.protocols ?? "{}"))),
    streamPaths: normalizeStreamPaths(ports, undefined, JSON.parse(str(r.stream_paths ?? "{}"))),
    subStreamPaths: normalizeStreamPaths(
      ports,
      undefined,
      JSON.parse(str(r.sub_stream_paths ?? "{}")),
    ),
    motionAlerts: num(r.motion_alerts ?? 0) === 1,
    alertQuietSeconds: num(r.alert_quiet_s ?? DEFAULT_ALERT_QUIET_S),
    alertsSnoozedUntil: numOrNull(r.alerts_snoozed_until ?? null),
    liveSound: num(r.live_sound ?? 1) === 1,
    manufacturer: str(r.manufacturer),
    model: str(r.model),
    firmware: str(r.firmware ?? ""),
    label: str(r.label),
    notes: str(r.notes),
    loopbackIp: str(r.loopback_ip),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    serial: strOrNull(r.serial),
    claimedAgentId: strOrNull(r.claimed_agent_id),
  };
}

function toAgentCounters(r: Row): AgentCounters {
  return {
    agentId: str(r.agent_id),
    tenantId: str(r.tenant_id),
    day: str(r.day),
    bytesUp: num(r.bytes_up),
    bytesDown: num(r.bytes_down),
    tunnels: num(r.tunnels),
    at: num(r.at),
  };
}

function toHandle(r: Row): Handle {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    deviceId: str(r.device_id),
    port: num(r.port),
    agentId: strOrNull(r.agent_id),
    createdAt: num(r.created_at),
    expiresAt: numOrNull(r.expires_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toEnrollmentToken(r: Row): EnrollmentToken {
  return {
    hash: str(r.hash),
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    usedAt: numOrNull(r.used_at),
    agentId: strOrNull(r.agent_id),
    keyPin: strOrNull(r.key_pin),
  };
}

function toUser(r: Row): User {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    email: str(r.email),
    passwordHash: str(r.password_hash),
    role: str(r.role) as Role,
    createdAt: num(r.created_at),
    disabledAt: numOrNull(r.disabled_at),
  };
}

function toApiToken(r: Row): ApiToken {
  return {
    hash: str(r.hash),
    tenantId: str(r.tenant_id),
    userId: str(r.user_id),
    name: str(r.name),
    createdAt: num(r.created_at),
    lastUsedAt: numOrNull(r.last_used_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toCliSession(r: Row): CliSession {
  return {
    hash: str(r.hash),
    tenantId: str(r.tenant_id),
    siteIds: JSON.parse(str(r.site_ids)) as string[],
    operator: str(r.operator),
    externalOperatorId: r.external_operator_id === null ? null : str(r.external_operator_id),
    issuer: str(r.issuer) as CliSession["issuer"],
    issuerRef: str(r.issuer_ref),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    hardCapAt: num(r.hard_cap_at),
    lastUsedAt: numOrNull(r.last_used_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toApiKey(r: Row): ApiKey {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    hash: str(r.hash),
    name: str(r.name),
    allowedCidr: r.allowed_cidr === null ? null : str(r.allowed_cidr),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toLicense(r: Row): License {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    hash: str(r.hash),
    createdAt: num(r.created_at),
    revokedAt: numOrNull(r.revoked_at),
  };
}

function toSshHostKey(r: Row): SshHostKey {
  return {
    tenantId: str(r.tenant_id),
    deviceId: str(r.device_id),
    port: num(r.port),
    algorithm: str(r.algorithm),
    fingerprint: str(r.fingerprint),
    pinnedAt: num(r.pinned_at),
    offeredAlgorithm: strOrNull(r.offered_algorithm),
    offeredFingerprint: strOrNull(r.offered_fingerprint),
    offeredAt: numOrNull(r.offered_at),
  };
}

function toRecordingInfo(r: Row): Omit<TerminalRecording, "cast"> {
  return {
    id: str(r.id),
    tenantId: str(r.tenant_id),
    deviceId: str(r.device_id),
    port: num(r.port),
    handle: str(r.handle),
    actor: str(r.actor),
    startedAt: num(r.started_at),
    endedAt: num(r.ended_at),
    endReason: str(r.end_reason),
  };
}

function toAuditEntry(r: Row): AuditEntry {
  return {
    seq: num(r.seq),
    tenantId: strOrNull(r.tenant_id),
    at: num(r.at),
    actor: str(r.actor),
    action: str(r.action),
    target: str(r.target),
    detail: JSON.parse(str(r.detail)),
  };
}

function toPresence(r: Row): Presence {
  return {
    agentId: str(r.agent_id),
    tenantId: str(r.tenant_id),
    siteId: str(r.site_id),
    node: str(r.node),
    endpoint: str(r.endpoint),
    lastHeartbeat: num(r.last_heartbeat),
    expiresAt: num(r.expires_at),
    activeStreams: num(r.active_streams),
    bytesUp: num(r.bytes_up),
    bytesDown: num(r.bytes_down),
    dataBlocked: str(r.data_blocked ?? ""),
  };
}

function isUniqueViolation(e: unknown): boolean {
  return e instanceof Error && /UNIQUE constraint failed/.test(e.message);
}

/** `column = ?` clauses and their values, for the columns given a value. */
function equalities(
  columns: [string, string | undefined][],
): [string[], SQLInputValue[]] {
  const set = columns.filter((c): c is [string, string] => c[1] !== undefined);
  return [set.map(([c]) => `${c} = ?`), set.map(([, v]) => v)];
}

/** A LIKE pattern (with `ESCAPE '\\'`) matching `text` anywhere, its `%` and `_` literal. */
function likeAnywhere(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Candidate entries per statement of an audit scan by actor or target (a few ms; `listAudit`). */
export const AUDIT_SCAN_WINDOW = 5_000;

/** Agents per statement of the statistics jobs (a few milliseconds each; see #byAgentPages). */
export const STATS_AGENT_PAGE = 100;

/** The {@linkcode Store} over one `node:sqlite` connection. */
class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #statements = new Map<string, StatementSync>();
  readonly #alerts: SqliteAlerts;
  readonly #checkpointer: Checkpointer | null;

  constructor(db: DatabaseSync, clock: Clock, checkpointer: Checkpointer | null = null) {
    this.#db = db;
    this.#checkpointer = checkpointer;
    this.#clock = clock;
    this.#alerts = new SqliteAlerts({
      get: (sql, ...p) => this.#get(sql, ...p),
      all: (sql, ...p) => this.#all(sql, ...p),
      run: (sql, ...p) => this.#run(sql, ...p),
      tx: (fn) => this.#tx(fn),
    }, clock);
  }

  /** The prepared statement for `sql`, prepared once per connection. */
  #q(sql: string): StatementSync {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    // A write with RETURNING is stepped to its end (all): left at its row, SQLite never calls
    // the WAL hook after its commit, so the store's own checkpoints never ran and a trail of
    // audit appends grew the WAL without bound.
    return RETURNING.test(sql) ? this.#q(sql).all(...params)[0] : this.#q(sql).get(...params);
  }

  #all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#q(sql).all(...params);
  }

  /** Runs `sql` and returns how many rows it changed. */
  #run(sql: string, ...params: SQLInputValue[]): number {
    return Number(this.#q(sql).run(...params).changes);
  }

  /**
   * Runs `fn` in a write transaction taken up front (`BEGIN IMMEDIATE`), so it never fails
   * half-way on a lock upgrade; rolls back when `fn` throws. `fn` must be synchronous.
   */
  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const result = fn();
      this.#db.exec("COMMIT");
      return result;
    } catch (e) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /** Runs `fn` in a read transaction, so its several reads see one snapshot. */
  #read<T>(fn: () => T): T {
    this.#db.exec("BEGIN");
    try {
      return fn();
    } finally {
      this.#db.exec("COMMIT");
    }
  }

  #now(): number {
    return this.#clock.now();
  }

  // Tenants

  async createTenant(input: { name: string }): Promise<Tenant> {
    const tenant: Tenant = { id: newId("t"), name: input.name, createdAt: this.#now() };
    this.#run(
      "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
      tenant.id,
      tenant.name,
      tenant.createdAt,
    );
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | null> {
    const r = this.#get("SELECT * FROM tenants WHERE id = ?", id);
    return r ? toTenant(r) : null;
  }

  async listTenants(): Promise<Tenant[]> {
    return this.#all("SELECT * FROM tenants ORDER BY created_at, rowid").map(toTenant);
  }

  // Sites

  async createSite(input: { tenantId: string; name: string }): Promise<Site> {
    const site: Site = {
      id: newId("site"),
      tenantId: input.tenantId,
      name: input.name,
      allowlistVersion: 0,
      createdAt: this.#now(),
      alertsPausedUntil: null,
      alertsPausedBy: null,
    };
    this.#run(
      "INSERT INTO sites (id, tenant_id, name, allowlist_version, created_at) VALUES (?, ?, ?, ?, ?)",
      site.id,
      site.tenantId,
      site.name,
      site.allowlistVersion,
      site.createdAt,
    );
    return site;
  }

  async getSite(tenantId: string, id: string): Promise<Site | null> {
    const r = this.#get("SELECT * FROM sites WHERE id = ? AND tenant_id = ?", id, tenantId);
    return r ? toSite(r) : null;
  }

  async getSiteById(id: string): Promise<Site | null> {
    const r = this.#get("SELECT * FROM sites WHERE id = ?", id);
    return r ? toSite(r) : null;
  }

  async listSites(tenantId: string): Promise<Site[]> {
    return this.#all("SELECT * FROM sites WHERE tenant_id = ? ORDER BY created_at, rowid", tenantId)
      .map(toSite);
  }

  async querySites(tenantId: string, query: SiteQuery): Promise<SitePage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    let where = "tenant_id = ?";
    const params: SQLInputValue[] = [tenantId];
    if (search !== null) {
      where += " AND name LIKE ? ESCAPE '\\'";
      params.push(likeAnywhere(search));
    }
    return this.#read(() => ({
      sites: this.#all(
        `SELECT * FROM sites WHERE ${where} ORDER BY created_at, rowid LIMIT ? OFFSET ?`,
        ...params,
        limit,
        offset,
      ).map(toSite),
      total: num(this.#get(`SELECT COUNT(*) AS n FROM sites WHERE ${where}`, ...params)!.n),
    }));
  }

  async getSitesById(tenantId: string, ids: string[]): Promise<Site[]> {
    return this.#all(
      `SELECT * FROM sites WHERE id IN (SELECT value FROM json_each(?)) AND tenant_id = ?
        ORDER BY created_at, rowid`,
      JSON.stringify(ids),
      tenantId,
    ).map(toSite);
  }

  async setSiteAlertsPause(
    tenantId: string,
    id: string,
    pause: { until: number; by: string } | null,
  ): Promise<Site | null> {
    const r = this.#get(
      `UPDATE sites SET alerts_paused_until = ?, alerts_paused_by = ?
       WHERE id = ? AND tenant_id = ? RETURNING *`,
      pause?.until ?? null,
      pause?.by ?? null,
      id,
      tenantId,
    );
    return r ? toSite(r) : null;
  }

  async updateSite(tenantId: string, id: string, patch: { name: string }): Promise<Site | null> {
    return this.#tx(() => {
      const n = this.#run(
        "UPDATE sites SET name = ? WHERE id = ? AND tenant_id = ?",
        patch.name,
        id,
        tenantId,
      );
      if (!n) return null;
      return toSite(this.#get("SELECT * FROM sites WHERE id = ?", id)!);
    });
  }

  async deleteSite(
    tenantId: string,
    id: string,
  ): Promise<"deleted" | "has_agents" | "not_found"> {
    return this.#tx(() => {
      if (!this.#get("SELECT 1 FROM sites WHERE id = ? AND tenant_id = ?", id, tenantId)) {
        return "not_found";
      }
      if (this.#get("SELECT 1 FROM agents WHERE site_id = ? AND revoked_at IS NULL", id)) {
        return "has_agents";
      }
      const agents = this.#all("SELECT id FROM agents WHERE site_id = ?", id).map((r) => str(r.id));
      for (const a of agents) {
        this.#run("DELETE FROM agent_counters WHERE agent_id = ?", a);
        this.#run("DELETE FROM agent_stats_hourly WHERE agent_id = ?", a);
        this.#run("DELETE FROM agent_stats_daily WHERE agent_id = ?", a);
        this.#run("DELETE FROM presence WHERE agent_id = ?", a);
      }
      this.#run(
        "DELETE FROM device_credentials WHERE device_id IN (SELECT id FROM devices WHERE site_id = ?)",
        id,
      );
      this.#run("DELETE FROM handles WHERE site_id = ?", id);
      this.#run("DELETE FROM devices WHERE site_id = ?", id);
      this.#run("DELETE FROM enrollment_tokens WHERE site_id = ?", id);
      this.#run("DELETE FROM presence WHERE site_id = ?", id);
      this.#run("DELETE FROM agents WHERE site_id = ?", id);
      this.#run("DELETE FROM sites WHERE id = ?", id);
      return "deleted";
    });
  }

  async bumpAllowlistVersion(siteId: string): Promise<number> {
    return this.#bump(siteId);
  }

  /** Increments the site's allowlist version (inside the caller's transaction, if any). */
  #bump(siteId: string, tenantId?: string): number {
    const r = tenantId === undefined
      ? this.#get(
        "UPDATE sites SET allowlist_version = allowlist_version + 1 WHERE id = ? " +
          "RETURNING allowlist_version",
        siteId,
      )
      : this.#get(
        "UPDATE sites SET allowlist_version = allowlist_version + 1 WHERE id = ? AND tenant_id = ? " +
          "RETURNING allowlist_version",
        siteId,
        tenantId,
      );
    if (!r) throw new Error(`site ${siteId} not found`);
    return num(r.allowlist_version);
  }

  // Devices

  async createDevice(input: NewDevice): Promise<Device> {
    return (await this.createDevices([input]))[0];
  }

  async createDevices(inputs: NewDevice[]): Promise<Device[]> {
    return this.#tx(() => {
      const bumped = new Set<string>();
      return inputs.map((input) => {
        if (!bumped.has(input.siteId)) {
          this.#bump(input.siteId, input.tenantId);
          bumped.add(input.siteId);
        }
        return this.#insertDevice(input);
      });
    });
  }

  /** Inserts one device; call inside a transaction that bumps its site's version. */
  #insertDevice(input: NewDevice): Device {
    const n = this.#allocateLoopback();
    const device = newDeviceRecord(input, n, this.#now());
    this.#run(
      `INSERT INTO devices (id, tenant_id, site_id, host, ports, protocols, stream_paths,
         manufacturer, model, label, notes, loopback_n, loopback_ip, created_at, updated_at,
         serial)
       VALUES (?, ?, ?, ?, ?, ?, '{}', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      device.id,
      device.tenantId,
      device.siteId,
      device.host,
      JSON.stringify(device.ports),
      JSON.stringify(device.protocols),
      device.manufacturer,
      device.model,
      device.label,
      device.notes,
      n,
      device.loopbackIp,
      device.createdAt,
      device.updatedAt,
      device.serial,
    );
    return device;
  }

  /**
   * Picks a free loopback index at random (a few tries), else the lowest free one: addresses are
   * unique cloud-wide but, unlike a counter, tell a tenant nothing about how many devices other
   * tenants added. Call inside a transaction.
   */
  #allocateLoopback(): number {
    const taken = (n: number) => !!this.#get("SELECT 1 AS x FROM devices WHERE loopback_n = ?", n);
    for (let i = 0; i < LOOPBACK_RANDOM_TRIES; i++) {
      const n = randomLoopbackIndex();
      if (!taken(n)) return n;
    }
    const free = this.#get(
      `SELECT 0 AS n WHERE NOT EXISTS (SELECT 1 FROM devices WHERE loopback_n = 0)
       UNION ALL
       SELECT d.loopback_n + 1 FROM devices d
        WHERE d.loopback_n + 1 < ?
          AND NOT EXISTS (SELECT 1 FROM devices e WHERE e.loopback_n = d.loopback_n + 1)
       ORDER BY n LIMIT 1`,
      LOOPBACK_CAPACITY,
    );
    if (!free) throw new Error(`all ${LOOPBACK_CAPACITY} loopback addresses are in use`);
    return num(free.n);
  }

  async getDevice(tenantId: string, id: string): Promise<Device | null> {
    const r = this.#get("SELECT * FROM devices WHERE id = ? AND tenant_id = ?", id, tenantId);
    return r ? toDevice(r) : null;
  }

  async getDeviceByLoopback(tenantId: string, loopbackIp: string): Promise<Device | null> {
    const r = this.#get(
      "SELECT * FROM devices WHERE loopback_ip = ? AND tenant_id = ?",
      loopbackIp,
      tenantId,
    );
    return r ? toDevice(r) : null;
  }

  async listDevices(tenantId: string, siteId: string): Promise<Device[]> {
    return this.#all(
      "SELECT * FROM devices WHERE tenant_id = ? AND site_id = ? ORDER BY created_at, rowid",
      tenantId,
      siteId,
    ).map(toDevice);
  }

  async listDevicesOfSites(tenantId: string, siteIds: string[]): Promise<Device[]> {
    if (!siteIds.length) return [];
    return this.#all(
      `SELECT * FROM devices WHERE tenant_id = ? AND site_id IN (SELECT value FROM json_each(?))
        ORDER BY created_at, rowid`,
      tenantId,
      JSON.stringify(siteIds),
    ).map(toDevice);
  }

  async getDevicesByHost(tenantId: string, siteId: string, hosts: string[]): Promise<Device[]> {
    if (!hosts.length) return [];
    return this.#all(
      // Named: without statistics the planner reads the whole site by devices_site instead.
      `SELECT * FROM devices INDEXED BY devices_site_host WHERE site_id = ? AND tenant_id = ?
          AND lower(host) IN (SELECT lower(value) FROM json_each(?))
        ORDER BY created_at, rowid`,
      siteId,
      tenantId,
      JSON.stringify(hosts),
    ).map(toDevice);
  }

  async listMotionAlertDevices(limit: number): Promise<Device[]> {
    return this.#all(
      `SELECT * FROM devices INDEXED BY devices_motion_alerts WHERE motion_alerts = 1
        ORDER BY created_at, rowid LIMIT ?`,
      Math.max(0, Math.floor(limit)),
    ).map(toDevice);
  }

  async snoozedDevices(tenantId: string, now: number): Promise<Map<string, number>> {
    const rows = this.#all(
      `SELECT id, alerts_snoozed_until FROM devices INDEXED BY devices_snoozed
        WHERE tenant_id = ? AND alerts_snoozed_until IS NOT NULL AND alerts_snoozed_until > ?`,
      tenantId,
      now,
    );
    return new Map(rows.map((r) => [String(r.id), Number(r.alerts_snoozed_until)]));
  }

  async updateDevice(tenantId: string, id: string, patch: DevicePatch): Promise<Device | null> {
    const ports = patch.ports === undefined ? undefined : normalizePorts(patch.ports);
    return this.#tx(() => {
      const r = this.#get("SELECT * FROM devices WHERE id = ? AND tenant_id = ?", id, tenantId);
      if (!r) return null;
      const cur = toDevice(r);
      const nextPorts = ports ?? cur.ports;
      const next: Device = {
        ...cur,
        host: patch.host ?? cur.host,
        ports: nextPorts,
        protocols: normalizeProtocols(nextPorts, patch.protocols, cur.protocols),
        streamPaths: normalizeStreamPaths(nextPorts, patch.streamPaths, cur.streamPaths),
        subStreamPaths: normalizeStreamPaths(nextPorts, patch.subStreamPaths, cur.subStreamPaths),
        motionAlerts: patch.motionAlerts ?? cur.motionAlerts,
        alertQuietSeconds: patch.alertQuietSeconds ?? cur.alertQuietSeconds,
        alertsSnoozedUntil: patch.alertsSnoozedUntil !== undefined
          ? patch.alertsSnoozedUntil
          : cur.alertsSnoozedUntil,
        liveSound: patch.liveSound ?? cur.liveSound,
        manufacturer: patch.manufacturer ?? cur.manufacturer,
        model: patch.model ?? cur.model,
        firmware: patch.firmware ?? cur.firmware,
        label: patch.label ?? cur.label,
        notes: patch.notes ?? cur.notes,
        updatedAt: this.#now(),
      };
      this.#run(
        `UPDATE devices SET host = ?, ports = ?, protocols = ?, stream_paths = ?,
           sub_stream_paths = ?, motion_alerts = ?, alert_quiet_s = ?, alerts_snoozed_until = ?,
           live_sound = ?, manufacturer = ?, model = ?, firmware = ?, label = ?, notes = ?,
           updated_at = ?
         WHERE id = ?`,
        next.host,
        JSON.stringify(next.ports),
        JSON.stringify(next.protocols),
        JSON.stringify(next.streamPaths),
        JSON.stringify(next.subStreamPaths),
        next.motionAlerts ? 1 : 0,
        next.alertQuietSeconds,
        next.alertsSnoozedUntil,
        next.liveSound ? 1 : 0,
        next.manufacturer,
        next.model,
        next.firmware,
        next.label,
        next.notes,
        next.updatedAt,
        id,
      );
      if (next.host !== cur.host || JSON.stringify(next.ports) !== JSON.stringify(cur.ports)) {
        this.#bump(cur.siteId);
      }
      return next;
    });
  }

  async deleteDevice(tenantId: string, id: string): Promise<boolean> {
    return this.#tx(() => {
      const r = this.#get(
        "SELECT site_id FROM devices WHERE id = ? AND tenant_id = ?",
        id,
        tenantId,
      );
      if (!r) return false;
      this.#run("DELETE FROM handles WHERE device_id = ?", id);
      this.#run("DELETE FROM motion_status WHERE device_id = ?", id);
      this.#run("DELETE FROM event_snapshots WHERE device_id = ?", id);
      this.#run("DELETE FROM devices WHERE id = ?", id);
      this.#bump(str(r.site_id));
      return true;
    });
  }

  async queryDevices(tenantId: string, siteId: string, query: DeviceQuery): Promise<DevicePage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    let where = "tenant_id = ? AND site_id = ?";
    const params: SQLInputValue[] = [tenantId, siteId];
    if (search !== null) {
      const like = likeAnywhere(search);
      where += ` AND (host LIKE ? ESCAPE '\\' OR label LIKE ? ESCAPE '\\'
        OR manufacturer LIKE ? ESCAPE '\\' OR model LIKE ? ESCAPE '\\'
        OR firmware LIKE ? ESCAPE '\\' OR loopback_ip LIKE ? ESCAPE '\\'
        OR EXISTS (SELECT 1 FROM json_each(devices.ports) WHERE value = ?))`;
      const port = /^[0-9]{1,5}$/.test(search) ? Number(search) : -1;
      params.push(like, like, like, like, like, like, port);
    }
    return this.#read(() => ({
      devices: this.#all(
        `SELECT * FROM devices WHERE ${where} ORDER BY created_at, rowid LIMIT ? OFFSET ?`,
        ...params,
        limit,
        offset,
      ).map(toDevice),
      total: num(this.#get(`SELECT COUNT(*) AS n FROM devices WHERE ${where}`, ...params)!.n),
    }));
  }

  async countDevicesBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const rows = siteIds === undefined
      ? this.#all(
        "SELECT site_id, COUNT(*) AS n FROM devices WHERE tenant_id = ? GROUP BY site_id",
        tenantId,
      )
      : this.#all(
        `SELECT site_id, COUNT(*) AS n FROM devices
          WHERE tenant_id = ? AND site_id IN (SELECT value FROM json_each(?)) GROUP BY site_id`,
        tenantId,
        JSON.stringify(siteIds),
      );
    for (const r of rows) out[str(r.site_id)] = num(r.n);
    return out;
  }

  async listDeviceExtras(tenantId: string, deviceIds: string[]): Promise<DeviceExtras> {
    const ids = JSON.stringify(deviceIds);
    return this.#read(() => ({
      handles: this.#all(
        `SELECT * FROM handles
          WHERE device_id IN (SELECT value FROM json_each(?)) AND tenant_id = ?
            AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
          ORDER BY created_at DESC, rowid DESC`,
        ids,
        tenantId,
        this.#now(),
      ).map(toHandle),
      withCredentials: this.#all(
        `SELECT device_id FROM device_credentials
          WHERE device_id IN (SELECT value FROM json_each(?)) AND tenant_id = ?`,
        ids,
        tenantId,
      ).map((r) => str(r.device_id)),
      hostKeys: this.#all(
        `SELECT * FROM ssh_host_keys
          WHERE device_id IN (SELECT value FROM json_each(?)) AND tenant_id = ?
          ORDER BY device_id, port`,
        ids,
        tenantId,
      ).map(toSshHostKey),
    }));
  }

  async getAllowlist(siteId: string): Promise<Allowlist> {
    return this.#read(() => {
      const site = this.#get("SELECT allowlist_version FROM sites WHERE id = ?", siteId);
      const seen = new Set<string>();
      const entries: AllowlistEntry[] = [];
      for (const r of this.#all("SELECT host, ports FROM devices WHERE site_id = ?", siteId)) {
        for (const port of JSON.parse(str(r.ports)) as number[]) {
          const key = `${port} ${str(r.host)}`;
          if (seen.has(key)) continue;
          seen.add(key);
          entries.push({ host: str(r.host), port });
        }
      }
      entries.sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port);
      return { siteId, version: site ? num(site.allowlist_version) : 0, entries };
    });
  }

  async getAllowlistVersions(siteIds: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (
      const r of this.#all(
        "SELECT id, allowlist_version FROM sites WHERE id IN (SELECT value FROM json_each(?))",
        JSON.stringify(siteIds),
      )
    ) out[str(r.id)] = num(r.allowlist_version);
    return out;
  }

  // Handles

  async createHandle(handle: Handle): Promise<Handle> {
    this.#run(
      `INSERT INTO handles (id, tenant_id, site_id, device_id, port, agent_id, created_at,
         expires_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      handle.id,
      handle.tenantId,
      handle.siteId,
      handle.deviceId,
      handle.port,
      handle.agentId,
      handle.createdAt,
      handle.expiresAt,
      handle.revokedAt,
    );
    return { ...handle };
  }

  async getHandle(id: string): Promise<Handle | null> {
    const r = this.#get("SELECT * FROM handles WHERE id = ?", id);
    return r ? toHandle(r) : null;
  }

  async findHandle(deviceId: string, port: number): Promise<Handle | null> {
    const r = this.#get(
      `SELECT * FROM handles
        WHERE device_id = ? AND port = ? AND revoked_at IS NULL
          AND (expires_at IS NULL OR expires_at > ?)
        ORDER BY created_at DESC, rowid DESC LIMIT 1`,
      deviceId,
      port,
      this.#now(),
    );
    return r ? toHandle(r) : null;
  }

  async revokeHandle(tenantId: string, id: string): Promise<boolean> {
    return this.#run(
      "UPDATE handles SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      id,
      tenantId,
    ) > 0;
  }

  async pinHandle(id: string, agentId: string): Promise<boolean> {
    return this.#run(
      "UPDATE handles SET agent_id = ? WHERE id = ? AND agent_id IS NULL",
      agentId,
      id,
    ) > 0;
  }

  // Enrollment and agents

  async createEnrollmentToken(
    token: Omit<EnrollmentToken, "usedAt" | "agentId" | "keyPin">,
  ): Promise<void> {
    this.#run(
      `INSERT INTO enrollment_tokens (hash, tenant_id, site_id, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?)`,
      token.hash,
      token.tenantId,
      token.siteId,
      token.createdAt,
      token.expiresAt,
    );
  }

  async getEnrollmentToken(hash: string): Promise<EnrollmentToken | null> {
    const r = this.#get("SELECT * FROM enrollment_tokens WHERE hash = ?", hash);
    return r ? toEnrollmentToken(r) : null;
  }

  async listEnrollmentTokens(tenantId: string, siteId: string): Promise<EnrollmentToken[]> {
    return this.#all(
      `SELECT * FROM enrollment_tokens WHERE tenant_id = ? AND site_id = ?
        ORDER BY created_at DESC, rowid DESC`,
      tenantId,
      siteId,
    ).map(toEnrollmentToken);
  }

  async revokeEnrollmentToken(tenantId: string, hash: string): Promise<boolean> {
    const now = this.#now();
    return this.#run(
      `UPDATE enrollment_tokens SET expires_at = ?
        WHERE hash = ? AND tenant_id = ? AND used_at IS NULL AND expires_at > ?`,
      now,
      hash,
      tenantId,
      now,
    ) > 0;
  }

  async consumeEnrollmentToken(hash: string, agent: NewAgent): Promise<ConsumeResult> {
    return this.#tx((): ConsumeResult => {
      const r = this.#get("SELECT * FROM enrollment_tokens WHERE hash = ?", hash);
      if (!r) return { ok: false, reason: "unknown" };
      const token = toEnrollmentToken(r);
      if (token.usedAt !== null) return { ok: false, reason: "used" };
      const now = this.#now();
      if (token.expiresAt <= now) return { ok: false, reason: "expired" };
      const created = newAgentRecord(agent, token, now);
      this.#insertAgent(created);
      this.#run(
        "UPDATE enrollment_tokens SET used_at = ?, agent_id = ?, key_pin = ? WHERE hash = ?",
        now,
        created.id,
        agent.keyPin ?? null,
        hash,
      );
      return { ok: true, agent: created };
    });
  }

  async renameAgent(tenantId: string, id: string, label: string): Promise<boolean> {
    return this.#run(
      "UPDATE agents SET label = ? WHERE id = ? AND tenant_id = ?",
      label,
      id,
      tenantId,
    ) > 0;
  }

  /** Inserts an agent record (inside the caller's transaction). */
  #insertAgent(a: Agent): void {
    this.#run(
      `INSERT INTO agents (id, tenant_id, site_id, hostname, version, os, cert_serial,
         cert_not_after, cert_ca, created_at, revoked_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
      a.id,
      a.tenantId,
      a.siteId,
      a.hostname,
      a.version,
      a.os,
      a.certSerial,
      a.certNotAfter,
      a.certCa,
      a.createdAt,
    );
  }

  async getAgent(id: string): Promise<Agent | null> {
    const r = this.#get("SELECT * FROM agents WHERE id = ?", id);
    return r ? toAgent(r) : null;
  }

  async getAgentsById(ids: string[]): Promise<Agent[]> {
    return this.#all(
      "SELECT * FROM agents WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
      JSON.stringify(ids),
    ).map(toAgent);
  }

  async listAgents(tenantId: string, siteId?: string): Promise<Agent[]> {
    const rows = siteId === undefined
      ? this.#all("SELECT * FROM agents WHERE tenant_id = ? ORDER BY created_at, rowid", tenantId)
      : this.#all(
        "SELECT * FROM agents WHERE tenant_id = ? AND site_id = ? ORDER BY created_at, rowid",
        tenantId,
        siteId,
      );
    return rows.map(toAgent);
  }

  async queryAgents(tenantId: string, query: AgentQuery): Promise<AgentPage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    let where = "tenant_id = ?";
    const params: SQLInputValue[] = [tenantId];
    if (query.siteId !== undefined) {
      where += " AND site_id = ?";
      params.push(query.siteId);
    }
    if (query.activeOnly) where += " AND revoked_at IS NULL";
    if (search !== null) {
      const like = likeAnywhere(search);
      where += ` AND (label LIKE ? ESCAPE '\\' OR hostname LIKE ? ESCAPE '\\'
        OR id LIKE ? ESCAPE '\\' OR version LIKE ? ESCAPE '\\'
        OR site_id IN (SELECT id FROM sites WHERE tenant_id = ? AND name LIKE ? ESCAPE '\\'))`;
      params.push(like, like, like, like, tenantId, like);
    }
    return this.#read(() => ({
      agents: this.#all(
        `SELECT * FROM agents WHERE ${where} ORDER BY created_at, rowid LIMIT ? OFFSET ?`,
        ...params,
        limit,
        offset,
      ).map(toAgent),
      total: num(this.#get(`SELECT COUNT(*) AS n FROM agents WHERE ${where}`, ...params)!.n),
    }));
  }

  async scanAgents(afterId: string | null, limit: number): Promise<Agent[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    return this.#all(
      "SELECT * FROM agents WHERE id > ? AND revoked_at IS NULL ORDER BY id LIMIT ?",
      afterId ?? "",
      n,
    ).map(toAgent);
  }

  async countAgentsBySite(
    tenantId: string,
    siteIds?: string[],
  ): Promise<Record<string, AgentCounts>> {
    const out: Record<string, AgentCounts> = {};
    const only = siteIds === undefined ? "" : "AND a.site_id IN (SELECT value FROM json_each(?))";
    for (
      const r of this.#all(
        `SELECT a.site_id, COUNT(*) AS n, COUNT(p.agent_id) AS online,
                COALESCE(SUM(p.active_streams), 0) AS streams
           FROM agents a LEFT JOIN presence p ON p.agent_id = a.id AND p.expires_at > ?
          WHERE a.tenant_id = ? AND a.revoked_at IS NULL ${only}
          GROUP BY a.site_id`,
        this.#now(),
        tenantId,
        ...(siteIds === undefined ? [] : [JSON.stringify(siteIds)]),
      )
    ) {
      out[str(r.site_id)] = {
        agents: num(r.n),
        online: num(r.online),
        activeStreams: num(r.streams),
      };
    }
    return out;
  }

  async updateAgentInfo(
    id: string,
    info: Pick<Agent, "hostname" | "version" | "os">,
  ): Promise<void> {
    this.#run(
      "UPDATE agents SET hostname = ?, version = ?, os = ? WHERE id = ?",
      info.hostname,
      info.version,
      info.os,
      id,
    );
  }

  async recordAgentCert(id: string, cert: AgentCert): Promise<boolean> {
    return this.#run(
      `UPDATE agents SET cert_serial = ?, cert_not_after = ?, cert_ca = ?
       WHERE id = ? AND revoked_at IS NULL`,
      cert.serial,
      cert.notAfter,
      cert.ca,
      id,
    ) > 0;
  }

  async listAgentsByCertExpiry(before: number, limit: number): Promise<Agent[]> {
    return this.#all(
      `SELECT * FROM agents WHERE revoked_at IS NULL AND cert_not_after IS NOT NULL
         AND cert_not_after < ? ORDER BY cert_not_after, rowid LIMIT ?`,
      Number.isFinite(before) ? before : Number.MAX_SAFE_INTEGER,
      Math.max(0, Math.floor(limit)),
    ).map(toAgent);
  }

  async revokeAgent(tenantId: string, id: string): Promise<boolean> {
    return this.#run(
      "UPDATE agents SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      id,
      tenantId,
    ) > 0;
  }

  // Users and credentials

  async createUser(input: Omit<User, "id" | "createdAt" | "disabledAt">): Promise<User> {
    const user = newUserRecord(input, newId("u"), this.#now());
    try {
      this.#run(
        `INSERT INTO users (id, tenant_id, email, password_hash, role, created_at, disabled_at)
         VALUES (?, ?, ?, ?, ?, ?, NULL)`,
        user.id,
        user.tenantId,
        user.email,
        user.passwordHash,
        user.role,
        user.createdAt,
      );
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new Error(`a user with email ${user.email} already exists`, { cause: e });
      }
      throw e;
    }
    return user;
  }

  async getUser(id: string): Promise<User | null> {
    const r = this.#get("SELECT * FROM users WHERE id = ?", id);
    return r ? toUser(r) : null;
  }

  async getUserByEmail(email: string): Promise<User | null> {
    const r = this.#get("SELECT * FROM users WHERE email = ?", normalizeEmail(email));
    return r ? toUser(r) : null;
  }

  async createUserInvite(
    input: Omit<UserInvite, "createdAt" | "usedAt">,
  ): Promise<UserInvite> {
    const invite: UserInvite = { ...input, createdAt: this.#now(), usedAt: null };
    this.#run(
      `INSERT INTO user_invites (hash, tenant_id, user_id, created_at, expires_at, used_at)
       VALUES (?, ?, ?, ?, ?, NULL)`,
      invite.hash,
      invite.tenantId,
      invite.userId,
      invite.createdAt,
      invite.expiresAt,
    );
    return invite;
  }

  async getUserInvite(hash: string): Promise<UserInvite | null> {
    const r = this.#get("SELECT * FROM user_invites WHERE hash = ?", hash);
    return r ? toUserInvite(r) : null;
  }

  async consumeUserInvite(hash: string, passwordHash: string): Promise<User | null> {
    return this.#tx(() => {
      const now = this.#now();
      const r = this.#get(
        "SELECT * FROM user_invites WHERE hash = ? AND used_at IS NULL AND expires_at > ?",
        hash,
        now,
      );
      if (!r) return null;
      const inv = toUserInvite(r);
      const u = this.#get(
        "SELECT * FROM users WHERE id = ? AND tenant_id = ?",
        inv.userId,
        inv.tenantId,
      );
      if (!u) return null;
      this.#run(
        "UPDATE user_invites SET used_at = ? WHERE user_id = ? AND used_at IS NULL",
        now,
        inv.userId,
      );
      this.#run(
        "UPDATE users SET password_hash = ?, disabled_at = NULL WHERE id = ?",
        passwordHash,
        inv.userId,
      );
      return { ...toUser(u), passwordHash, disabledAt: null };
    });
  }

  async listUsers(tenantId: string): Promise<User[]> {
    return this.#all(
      "SELECT * FROM users WHERE tenant_id = ? ORDER BY created_at, rowid",
      tenantId,
    ).map(toUser);
  }

  async updateUser(
    tenantId: string,
    id: string,
    patch: Partial<Pick<User, "passwordHash" | "role" | "disabledAt">>,
  ): Promise<User | null> {
    return this.#tx(() => {
      const r = this.#get("SELECT * FROM users WHERE id = ? AND tenant_id = ?", id, tenantId);
      if (!r) return null;
      const cur = toUser(r);
      const next: User = {
        ...cur,
        passwordHash: patch.passwordHash ?? cur.passwordHash,
        role: patch.role ?? cur.role,
        disabledAt: patch.disabledAt === undefined ? cur.disabledAt : patch.disabledAt,
      };
      this.#run(
        "UPDATE users SET password_hash = ?, role = ?, disabled_at = ? WHERE id = ?",
        next.passwordHash,
        next.role,
        next.disabledAt,
        id,
      );
      return next;
    });
  }

  async createApiToken(
    input: Omit<ApiToken, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<ApiToken> {
    const token = newApiTokenRecord(input, this.#now());
    this.#run(
      `INSERT INTO api_tokens (hash, tenant_id, user_id, name, created_at) VALUES (?, ?, ?, ?, ?)`,
      token.hash,
      token.tenantId,
      token.userId,
      token.name,
      token.createdAt,
    );
    return token;
  }

  async createWebSession(input: Omit<WebSession, "createdAt">): Promise<WebSession> {
    const s: WebSession = { ...input, createdAt: this.#now() };
    this.#run(
      `INSERT INTO web_sessions (hash, tenant_id, user_id, csrf_hash, created_at, expires_at)
        VALUES (?, ?, ?, ?, ?, ?)`,
      s.hash,
      s.tenantId,
      s.userId,
      s.csrfHash,
      s.createdAt,
      s.expiresAt,
    );
    return s;
  }

  async getWebSession(hash: string): Promise<WebSession | null> {
    const r = this.#get(
      "SELECT * FROM web_sessions WHERE hash = ? AND expires_at > ?",
      hash,
      this.#now(),
    );
    return r
      ? {
        hash: str(r.hash),
        tenantId: str(r.tenant_id),
        userId: str(r.user_id),
        csrfHash: str(r.csrf_hash),
        createdAt: num(r.created_at),
        expiresAt: num(r.expires_at),
      }
      : null;
  }

  async setWebSessionTenant(hash: string, tenantId: string): Promise<boolean> {
    return this.#run("UPDATE web_sessions SET tenant_id = ? WHERE hash = ?", tenantId, hash) > 0;
  }

  async deleteWebSession(hash: string): Promise<void> {
    this.#run("DELETE FROM web_sessions WHERE hash = ?", hash);
  }

  async getApiToken(hash: string): Promise<ApiToken | null> {
    const r = this.#get("SELECT * FROM api_tokens WHERE hash = ?", hash);
    return r ? toApiToken(r) : null;
  }

  async listApiTokens(tenantId: string, userId: string): Promise<ApiToken[]> {
    return this.#all(
      "SELECT * FROM api_tokens WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, rowid",
      tenantId,
      userId,
    ).map(toApiToken);
  }

  async touchApiToken(hash: string): Promise<void> {
    this.#run("UPDATE api_tokens SET last_used_at = ? WHERE hash = ?", this.#now(), hash);
  }

  async revokeApiToken(tenantId: string, hash: string): Promise<boolean> {
    return this.#run(
      "UPDATE api_tokens SET revoked_at = ? WHERE hash = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      hash,
      tenantId,
    ) > 0;
  }

  // CLI sessions and API keys

  async createCliSession(
    input: Omit<CliSession, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<CliSession> {
    const s: CliSession = { ...input, createdAt: this.#now(), lastUsedAt: null, revokedAt: null };
    this.#run(
      `INSERT INTO cli_sessions (hash, tenant_id, site_ids, operator, external_operator_id, issuer,
        issuer_ref, created_at, expires_at, hard_cap_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      s.hash,
      s.tenantId,
      JSON.stringify(s.siteIds),
      s.operator,
      s.externalOperatorId,
      s.issuer,
      s.issuerRef,
      s.createdAt,
      s.expiresAt,
      s.hardCapAt,
    );
    return s;
  }

  async getCliSession(hash: string): Promise<CliSession | null> {
    const r = this.#get("SELECT * FROM cli_sessions WHERE hash = ?", hash);
    return r ? toCliSession(r) : null;
  }

  async listCliSessions(
    tenantId: string,
    filter: { siteId?: string; issuerRef?: string } = {},
  ): Promise<CliSession[]> {
    return this.#all(
      "SELECT * FROM cli_sessions WHERE tenant_id = ? ORDER BY created_at DESC, rowid DESC",
      tenantId,
    ).map(toCliSession).filter((s) =>
      (!filter.siteId || s.siteIds.includes(filter.siteId)) &&
      (!filter.issuerRef || s.issuerRef === filter.issuerRef)
    );
  }

  async slideCliSession(hash: string, slideMs: number): Promise<CliSession | null> {
    return this.#tx(() => {
      const now = this.#now();
      this.#run(
        `UPDATE cli_sessions SET last_used_at = ?, expires_at = MIN(?, hard_cap_at)
          WHERE hash = ? AND revoked_at IS NULL AND expires_at > ?`,
        now,
        now + slideMs,
        hash,
        now,
      );
      const r = this.#get("SELECT * FROM cli_sessions WHERE hash = ?", hash);
      return r ? toCliSession(r) : null;
    });
  }

  async revokeCliSession(tenantId: string, hash: string): Promise<boolean> {
    return this.#run(
      "UPDATE cli_sessions SET revoked_at = ? WHERE hash = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      hash,
      tenantId,
    ) > 0;
  }

  async revokeCliSessionsByIssuer(tenantId: string, issuerRef: string): Promise<number> {
    return this.#run(
      `UPDATE cli_sessions SET revoked_at = ?
        WHERE tenant_id = ? AND issuer_ref = ? AND revoked_at IS NULL`,
      this.#now(),
      tenantId,
      issuerRef,
    );
  }

  async createApiKey(input: Omit<ApiKey, "id" | "createdAt" | "revokedAt">): Promise<ApiKey> {
    const k: ApiKey = { ...input, id: newId("key"), createdAt: this.#now(), revokedAt: null };
    this.#run(
      `INSERT INTO api_keys (id, tenant_id, hash, name, allowed_cidr, created_at)
        VALUES (?, ?, ?, ?, ?, ?)`,
      k.id,
      k.tenantId,
      k.hash,
      k.name,
      k.allowedCidr,
      k.createdAt,
    );
    return k;
  }

  async getApiKeyByHash(hash: string): Promise<ApiKey | null> {
    const r = this.#get("SELECT * FROM api_keys WHERE hash = ?", hash);
    return r ? toApiKey(r) : null;
  }

  async listApiKeys(tenantId: string): Promise<ApiKey[]> {
    return this.#all(
      "SELECT * FROM api_keys WHERE tenant_id = ? ORDER BY created_at, rowid",
      tenantId,
    ).map(toApiKey);
  }

  async revokeApiKey(tenantId: string, id: string): Promise<boolean> {
    return this.#run(
      "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      id,
      tenantId,
    ) > 0;
  }

  async createLicense(input: { tenantId: string; hash: string }): Promise<License> {
    const license: License = {
      id: newId("lic"),
      tenantId: input.tenantId,
      hash: input.hash,
      createdAt: this.#now(),
      revokedAt: null,
    };
    this.#run(
      "INSERT INTO licenses (id, tenant_id, hash, created_at) VALUES (?, ?, ?, ?)",
      license.id,
      license.tenantId,
      license.hash,
      license.createdAt,
    );
    return license;
  }

  async getLicenseByHash(hash: string): Promise<License | null> {
    const r = this.#get("SELECT * FROM licenses WHERE hash = ?", hash);
    return r ? toLicense(r) : null;
  }

  async listLicenses(tenantId: string): Promise<License[]> {
    return this.#all(
      "SELECT * FROM licenses WHERE tenant_id = ? ORDER BY created_at, rowid",
      tenantId,
    ).map(toLicense);
  }

  async revokeLicense(tenantId: string, id: string): Promise<boolean> {
    return this.#run(
      "UPDATE licenses SET revoked_at = ? WHERE id = ? AND tenant_id = ? AND revoked_at IS NULL",
      this.#now(),
      id,
      tenantId,
    ) > 0;
  }

  // Device credentials

  async putDeviceCredentials(tenantId: string, deviceId: string, sealed: string): Promise<boolean> {
    return this.#tx(() => {
      if (!this.#get("SELECT 1 FROM devices WHERE id = ? AND tenant_id = ?", deviceId, tenantId)) {
        return false;
      }
      this.#run(
        `INSERT INTO device_credentials (device_id, tenant_id, sealed, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (device_id) DO UPDATE SET sealed = excluded.sealed,
           updated_at = excluded.updated_at`,
        deviceId,
        tenantId,
        sealed,
        this.#now(),
      );
      return true;
    });
  }

  async getDeviceCredentials(
    tenantId: string,
    deviceId: string,
  ): Promise<DeviceCredentialRecord | null> {
    const r = this.#get(
      "SELECT * FROM device_credentials WHERE device_id = ? AND tenant_id = ?",
      deviceId,
      tenantId,
    );
    return r
      ? {
        tenantId: str(r.tenant_id),
        deviceId: str(r.device_id),
        sealed: str(r.sealed),
        updatedAt: num(r.updated_at),
      }
      : null;
  }

  async deleteDeviceCredentials(tenantId: string, deviceId: string): Promise<boolean> {
    return this.#run(
      "DELETE FROM device_credentials WHERE device_id = ? AND tenant_id = ?",
      deviceId,
      tenantId,
    ) > 0;
  }

  // Browser terminal

  async getSshHostKey(tenantId: string, deviceId: string, port: number) {
    const r = this.#get(
      "SELECT * FROM ssh_host_keys WHERE device_id = ? AND port = ? AND tenant_id = ?",
      deviceId,
      port,
      tenantId,
    );
    return r ? toSshHostKey(r) : null;
  }

  async putSshHostKey(pin: SshHostKey): Promise<boolean> {
    return this.#tx(() => {
      if (
        !this.#get(
          "SELECT 1 FROM devices WHERE id = ? AND tenant_id = ?",
          pin.deviceId,
          pin.tenantId,
        )
      ) return false;
      this.#run(
        `INSERT INTO ssh_host_keys (device_id, port, tenant_id, algorithm, fingerprint, pinned_at,
           offered_algorithm, offered_fingerprint, offered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (device_id, port) DO UPDATE SET algorithm = excluded.algorithm,
           fingerprint = excluded.fingerprint, pinned_at = excluded.pinned_at,
           offered_algorithm = excluded.offered_algorithm,
           offered_fingerprint = excluded.offered_fingerprint, offered_at = excluded.offered_at`,
        pin.deviceId,
        pin.port,
        pin.tenantId,
        pin.algorithm,
        pin.fingerprint,
        pin.pinnedAt,
        pin.offeredAlgorithm,
        pin.offeredFingerprint,
        pin.offeredAt,
      );
      return true;
    });
  }

  async getTerminalPolicy(tenantId: string): Promise<TerminalPolicy | null> {
    const r = this.#get("SELECT * FROM terminal_policies WHERE tenant_id = ?", tenantId);
    return r
      ? {
        maxPerUser: num(r.max_per_user),
        maxPerDevice: num(r.max_per_device),
        idleTimeoutMs: num(r.idle_timeout_ms),
        maxSessionMs: num(r.max_session_ms),
        recordInput: num(r.record_input) === 1,
        retentionMs: num(r.retention_ms),
      }
      : null;
  }

  async putTerminalPolicy(tenantId: string, p: TerminalPolicy): Promise<void> {
    this.#run(
      `INSERT INTO terminal_policies (tenant_id, max_per_user, max_per_device, idle_timeout_ms,
         max_session_ms, record_input, retention_ms) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET max_per_user = excluded.max_per_user,
         max_per_device = excluded.max_per_device, idle_timeout_ms = excluded.idle_timeout_ms,
         max_session_ms = excluded.max_session_ms, record_input = excluded.record_input,
         retention_ms = excluded.retention_ms`,
      tenantId,
      p.maxPerUser,
      p.maxPerDevice,
      p.idleTimeoutMs,
      p.maxSessionMs,
      p.recordInput ? 1 : 0,
      p.retentionMs,
    );
  }

  async putRecording(rec: TerminalRecording): Promise<void> {
    this.#run(
      `INSERT INTO terminal_recordings (id, tenant_id, device_id, port, handle, actor, started_at,
         ended_at, end_reason, cast) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      rec.id,
      rec.tenantId,
      rec.deviceId,
      rec.port,
      rec.handle,
      rec.actor,
      rec.startedAt,
      rec.endedAt,
      rec.endReason,
      rec.cast,
    );
  }

  async getRecording(tenantId: string, id: string): Promise<TerminalRecording | null> {
    const r = this.#get(
      "SELECT * FROM terminal_recordings WHERE id = ? AND tenant_id = ?",
      id,
      tenantId,
    );
    return r ? { ...toRecordingInfo(r), cast: str(r.cast) } : null;
  }

  async listRecordings(tenantId: string, opts: { deviceId?: string; limit?: number } = {}) {
    const limit = Math.min(Math.max(opts.limit ?? 100, 1), 1000);
    const cols = "id, tenant_id, device_id, port, handle, actor, started_at, ended_at, end_reason";
    const rows = opts.deviceId
      ? this.#all(
        `SELECT ${cols} FROM terminal_recordings WHERE tenant_id = ? AND device_id = ?
         ORDER BY ended_at DESC, rowid DESC LIMIT ?`,
        tenantId,
        opts.deviceId,
        limit,
      )
      : this.#all(
        `SELECT ${cols} FROM terminal_recordings WHERE tenant_id = ?
         ORDER BY ended_at DESC, rowid DESC LIMIT ?`,
        tenantId,
        limit,
      );
    return rows.map(toRecordingInfo);
  }

  async deleteRecordingsBefore(tenantId: string, before: number): Promise<number> {
    return this.#run(
      "DELETE FROM terminal_recordings WHERE tenant_id = ? AND ended_at < ?",
      tenantId,
      before,
    );
  }

  // Audit

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    const at = this.#now();
    const detail = entry.detail ?? {};
    const r = this.#get(
      `INSERT INTO audit (tenant_id, at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?, ?)
       RETURNING seq`,
      entry.tenantId,
      at,
      entry.actor,
      entry.action,
      entry.target,
      JSON.stringify(detail),
    )!;
    return {
      seq: num(r.seq),
      tenantId: entry.tenantId,
      at,
      actor: entry.actor,
      action: entry.action,
      target: entry.target,
      detail: JSON.parse(JSON.stringify(detail)),
    };
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    // The tenant and action have indexes and pick the candidates; the actor and the target have
    // none (the trail only grows, and they would add half its size again) and filter them.
    const { tenantId, action, actor, target } = query;
    const [indexed, indexedParams] = equalities([["tenant_id", tenantId], ["action", action]]);
    const [rest, restParams] = equalities([["actor", actor], ["target", target]]);
    indexed.push("seq < ?");
    const limit = auditLimit(query.limit);
    let before = query.before ?? Number.MAX_SAFE_INTEGER;
    const candidates = `SELECT * FROM audit WHERE ${indexed.join(" AND ")} ORDER BY seq DESC`;
    if (rest.length === 0) {
      return this.#all(`${candidates} LIMIT ?`, ...indexedParams, before, limit).map(toAuditEntry);
    }
    // A rare actor or target made one statement read a big tenant's whole trail on the event
    // loop (0.4 s per 2 million entries): read the candidates AUDIT_SCAN_WINDOW at a time (a
    // few milliseconds), turning the event loop between windows.
    const window = `${candidates} LIMIT ${AUDIT_SCAN_WINDOW}`;
    const matches = `SELECT * FROM (${window}) WHERE ${
      rest.join(" AND ")
    } ORDER BY seq DESC LIMIT ?`;
    const extent = `SELECT min(seq) AS lo, count(*) AS n FROM (${window})`;
    const out: AuditEntry[] = [];
    for (;;) {
      const rows = this.#all(matches, ...indexedParams, before, ...restParams, limit - out.length);
      for (const r of rows) out.push(toAuditEntry(r));
      if (out.length >= limit) return out;
      const e = this.#get(extent, ...indexedParams, before)!;
      if (num(e.n) < AUDIT_SCAN_WINDOW) return out;
      before = num(e.lo);
      await loopTurn();
    }
  }

  async purgeAudit(before: number): Promise<AuditPurge> {
    const out: AuditPurge = { entries: 0, byTenant: {} };
    for (;;) {
      const page = this.#all(
        "SELECT seq, tenant_id, at FROM audit ORDER BY seq LIMIT ?",
        AUDIT_PURGE_PAGE,
      );
      const keep = page.findIndex((r) => num(r.at) >= before);
      const old = keep === -1 ? page : page.slice(0, keep);
      if (!old.length) return out;
      this.#tx(() => {
        this.#run("UPDATE audit_purge_gate SET open = 1");
        this.#run("DELETE FROM audit WHERE seq <= ?", num(old[old.length - 1].seq));
        this.#run("UPDATE audit_purge_gate SET open = 0");
      });
      for (const r of old) {
        const t = r.tenant_id === null ? "" : str(r.tenant_id);
        out.byTenant[t] = (out.byTenant[t] ?? 0) + 1;
      }
      out.entries += old.length;
      if (keep !== -1) return out;
      await loopTurn();
    }
  }

  // Multi-node primitives

  async putPresence(update: PresenceUpdate, ttlMs: number): Promise<Presence> {
    const now = this.#now();
    const presence: Presence = {
      agentId: update.agentId,
      tenantId: update.tenantId,
      siteId: update.siteId,
      node: update.node,
      endpoint: update.endpoint,
      lastHeartbeat: now,
      expiresAt: now + ttlMs,
      activeStreams: update.activeStreams,
      bytesUp: update.bytesUp,
      bytesDown: update.bytesDown,
      dataBlocked: update.dataBlocked ?? "",
    };
    this.#run(
      `INSERT OR REPLACE INTO presence (agent_id, tenant_id, site_id, node, endpoint,
         last_heartbeat, expires_at, active_streams, bytes_up, bytes_down, data_blocked)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      presence.agentId,
      presence.tenantId,
      presence.siteId,
      presence.node,
      presence.endpoint,
      presence.lastHeartbeat,
      presence.expiresAt,
      presence.activeStreams,
      presence.bytesUp,
      presence.bytesDown,
      presence.dataBlocked,
    );
    return presence;
  }

  async getPresence(agentId: string): Promise<Presence | null> {
    const r = this.#get(
      "SELECT * FROM presence WHERE agent_id = ? AND expires_at > ?",
      agentId,
      this.#now(),
    );
    return r ? toPresence(r) : null;
  }

  async listPresence(siteId: string): Promise<Presence[]> {
    return this.#all(
      "SELECT * FROM presence WHERE site_id = ? AND expires_at > ? ORDER BY agent_id",
      siteId,
      this.#now(),
    ).map(toPresence);
  }

  async getPresenceOf(agentIds: string[]): Promise<Presence[]> {
    return this.#all(
      `SELECT * FROM presence
        WHERE agent_id IN (SELECT value FROM json_each(?)) AND expires_at > ? ORDER BY agent_id`,
      JSON.stringify(agentIds),
      this.#now(),
    ).map(toPresence);
  }

  async deletePresence(agentId: string, node: string): Promise<void> {
    this.#run("DELETE FROM presence WHERE agent_id = ? AND node = ?", agentId, node);
  }

  async acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    // One upsert statement is one atomic write: it inserts a free lock, or takes over the row
    // only when the caller already owns it or it has expired; `changes` says which happened.
    const now = this.#now();
    return this.#run(
      `INSERT INTO locks (name, owner, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
        WHERE locks.owner = excluded.owner OR locks.expires_at <= ?`,
      name,
      owner,
      now + ttlMs,
      now,
    ) > 0;
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    this.#run("DELETE FROM locks WHERE name = ? AND owner = ?", name, owner);
  }

  async hitRateWindow(key: string, windowMs: number): Promise<number> {
    // One upsert: a new window, or one more hit in the current one (SET reads the old row).
    const now = this.#now();
    const r = this.#get(
      `INSERT INTO rate_windows (key, start, n, expires_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
        n = CASE WHEN rate_windows.start <= ? THEN 1 ELSE rate_windows.n + 1 END,
        expires_at = CASE WHEN rate_windows.start <= ? THEN excluded.expires_at
          ELSE rate_windows.expires_at END,
        start = CASE WHEN rate_windows.start <= ? THEN excluded.start ELSE rate_windows.start END
       RETURNING n`,
      key,
      now,
      now + windowMs,
      now - windowMs,
      now - windowMs,
      now - windowMs,
    )!;
    return num(r.n);
  }

  async rateWindowHits(key: string, windowMs: number): Promise<number> {
    const r = this.#get(
      "SELECT n FROM rate_windows WHERE key = ? AND start > ?",
      key,
      this.#now() - windowMs,
    );
    return r ? num(r.n) : 0;
  }

  async unhitRateWindow(key: string, windowMs: number): Promise<void> {
    this.#run(
      "UPDATE rate_windows SET n = n - 1 WHERE key = ? AND start > ? AND n > 0",
      key,
      this.#now() - windowMs,
    );
  }

  async incrementCounter(name: string, by = 1): Promise<number> {
    const r = this.#get(
      `INSERT INTO counters (name, value) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET value = value + excluded.value
       RETURNING value`,
      name,
      by,
    )!;
    return num(r.value);
  }

  async putNode(node: Omit<NodeRecord, "seenAt" | "stoppedAt">): Promise<NodeRecord> {
    const seenAt = this.#now();
    this.#run(
      `INSERT INTO nodes (name, version, started_at, seen_at, internal, settings, stopped_at)
       VALUES (?, ?, ?, ?, ?, ?, NULL)
       ON CONFLICT (name) DO UPDATE SET version = excluded.version,
        started_at = excluded.started_at, seen_at = excluded.seen_at,
        internal = excluded.internal, settings = excluded.settings, stopped_at = NULL`,
      node.name,
      node.version,
      node.startedAt,
      seenAt,
      node.internal,
      JSON.stringify(node.settings),
    );
    return { ...node, settings: { ...node.settings }, seenAt, stoppedAt: null };
  }

  async markNodeStopped(name: string): Promise<boolean> {
    return this.#run("UPDATE nodes SET stopped_at = ? WHERE name = ?", this.#now(), name) > 0;
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.#all("SELECT * FROM nodes ORDER BY name").map((r) => ({
      name: String(r.name),
      version: String(r.version),
      startedAt: num(r.started_at),
      seenAt: num(r.seen_at),
      stoppedAt: r.stopped_at === null ? null : num(r.stopped_at),
      internal: String(r.internal),
      settings: JSON.parse(String(r.settings)) as Record<string, string>,
    }));
  }

  async deleteNode(name: string): Promise<boolean> {
    return this.#run("DELETE FROM nodes WHERE name = ?", name) > 0;
  }

  async putLiveFailure(f: Omit<LiveFailure, "at">): Promise<void> {
    const now = this.#now();
    this.#tx(() => {
      this.#run("DELETE FROM live_failures WHERE at < ?", now - LIVE_FAILURE_KEEP_MS);
      this.#run(
        `INSERT INTO live_failures (key, code, message, at) VALUES (?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET code = excluded.code, message = excluded.message,
          at = excluded.at`,
        f.key,
        f.code,
        f.message,
        now,
      );
    });
  }

  async getLiveFailure(key: string, since: number): Promise<LiveFailure | null> {
    const r = this.#get("SELECT * FROM live_failures WHERE key = ? AND at >= ?", key, since);
    return r ? { key, code: String(r.code), message: String(r.message), at: num(r.at) } : null;
  }

  async deleteLiveFailure(key: string): Promise<void> {
    this.#run("DELETE FROM live_failures WHERE key = ?", key);
  }

  // Event snapshots

  async putEventSnapshot(s: Omit<EventSnapshot, "at">): Promise<void> {
    const now = this.#now();
    this.#tx(() => {
      this.#run("DELETE FROM event_snapshots WHERE at < ?", now - SNAPSHOT_KEEP_MS);
      this.#run(
        `INSERT INTO event_snapshots (id, tenant_id, site_id, device_id, at, jpeg)
         VALUES (?, ?, ?, ?, ?, ?)`,
        s.id,
        s.tenantId,
        s.siteId,
        s.deviceId,
        now,
        s.jpeg,
      );
      this.#run(
        `DELETE FROM event_snapshots WHERE device_id = ? AND id NOT IN
          (SELECT id FROM event_snapshots WHERE device_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)`,
        s.deviceId,
        s.deviceId,
        SNAPSHOTS_PER_DEVICE,
      );
    });
  }

  async getEventSnapshot(tenantId: string, id: string): Promise<EventSnapshot | null> {
    const r = this.#get(
      "SELECT * FROM event_snapshots WHERE id = ? AND tenant_id = ?",
      id,
      tenantId,
    );
    if (!r) return null;
    return {
      id,
      tenantId,
      siteId: str(r.site_id),
      deviceId: str(r.device_id),
      at: num(r.at),
      jpeg: new Uint8Array(r.jpeg as Uint8Array),
    };
  }

  // Motion status

  async putMotionStatus(m: MotionStatusRecord): Promise<void> {
    this.#run(
      `INSERT INTO motion_status (device_id, state, error, last_motion_at, since, node, watch)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, error = excluded.error,
        last_motion_at = excluded.last_motion_at, since = excluded.since, node = excluded.node,
        watch = excluded.watch`,
      m.deviceId,
      m.state,
      m.error ?? null,
      m.lastMotionAt,
      m.since,
      m.node,
      m.watch,
    );
  }

  async getMotionStatuses(deviceIds: string[]): Promise<MotionStatusRecord[]> {
    const out: MotionStatusRecord[] = [];
    for (let i = 0; i < deviceIds.length; i += 500) {
      const ids = deviceIds.slice(i, i + 500);
      const rows = this.#all(
        `SELECT * FROM motion_status WHERE device_id IN (${ids.map(() => "?").join(",")})`,
        ...ids,
      );
      for (const r of rows) {
        out.push({
          deviceId: str(r.device_id),
          state: str(r.state) as MotionStatusRecord["state"],
          ...(r.error === null ? {} : { error: str(r.error) }),
          lastMotionAt: r.last_motion_at === null ? null : num(r.last_motion_at),
          since: num(r.since),
          node: str(r.node),
          watch: str(r.watch),
        });
      }
    }
    return out;
  }

  async deleteMotionStatus(deviceId: string, watch: string): Promise<void> {
    this.#run("DELETE FROM motion_status WHERE device_id = ? AND watch = ?", deviceId, watch);
  }

  // Agent stats

  async recordAgentCounters(
    input: Omit<AgentCounters, "at">,
  ): Promise<{ bytesUp: number; bytesDown: number; tunnels: number }> {
    return this.#tx(() => {
      const now = this.#now();
      const r = this.#get("SELECT * FROM agent_counters WHERE agent_id = ?", input.agentId);
      const prev = r ? toAgentCounters(r) : null;
      const d = counterDeltas(input, prev);
      if (d === "stale") return { bytesUp: 0, bytesDown: 0, tunnels: 0 };
      this.#run(
        `INSERT OR REPLACE INTO agent_counters (agent_id, tenant_id, day, bytes_up, bytes_down,
           tunnels, at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        input.agentId,
        input.tenantId,
        input.day,
        input.bytesUp,
        input.bytesDown,
        input.tunnels,
        now,
      );
      if (d.bytesUp || d.bytesDown || d.tunnels) {
        this.#run(
          `INSERT INTO agent_stats_hourly (agent_id, tenant_id, hour, bytes_up, bytes_down, tunnels)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (agent_id, hour) DO UPDATE SET bytes_up = bytes_up + excluded.bytes_up,
             bytes_down = bytes_down + excluded.bytes_down, tunnels = tunnels + excluded.tunnels`,
          input.agentId,
          input.tenantId,
          hourOf(now),
          d.bytesUp,
          d.bytesDown,
          d.tunnels,
        );
      }
      return d;
    });
  }

  async getAgentCounters(agentId: string): Promise<AgentCounters | null> {
    const r = this.#get("SELECT * FROM agent_counters WHERE agent_id = ?", agentId);
    return r ? toAgentCounters(r) : null;
  }

  async getAgentCountersOf(agentIds: string[]): Promise<AgentCounters[]> {
    return this.#all(
      `SELECT * FROM agent_counters WHERE agent_id IN (SELECT value FROM json_each(?))
        ORDER BY agent_id`,
      JSON.stringify(agentIds),
    ).map(toAgentCounters);
  }

  async listAgentHourlyStats(
    tenantId: string,
    agentId: string,
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.#all(
      `SELECT * FROM agent_stats_hourly WHERE tenant_id = ? AND agent_id = ? AND hour >= ?
       ORDER BY hour`,
      tenantId,
      agentId,
      sinceMs,
    ).map(toHourlyStat);
  }

  async listHourlyStatsOf(
    tenantId: string,
    agentIds: string[],
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.#all(
      `SELECT * FROM agent_stats_hourly
        WHERE tenant_id = ? AND agent_id IN (SELECT value FROM json_each(?)) AND hour >= ?
        ORDER BY agent_id, hour`,
      tenantId,
      JSON.stringify(agentIds),
      sinceMs,
    ).map(toHourlyStat);
  }

  // Background jobs

  async addHourToDaily(hour: number): Promise<number> {
    // A statement per page of agents (see #byAgentPages). A crash between pages leaves part of
    // the hour added, which the daily reconciliation sets right, as it does a missing hour.
    return await this.#byAgentPages((first, last) =>
      this.#run(
        `INSERT INTO agent_stats_daily (agent_id, tenant_id, day, bytes_up, bytes_down, tunnels)
         SELECT agent_id, tenant_id, ?, bytes_up, bytes_down, tunnels FROM agent_stats_hourly
          WHERE agent_id >= ? AND agent_id <= ? AND hour = ?
         ON CONFLICT (agent_id, day) DO UPDATE SET bytes_up = bytes_up + excluded.bytes_up,
           bytes_down = bytes_down + excluded.bytes_down, tunnels = tunnels + excluded.tunnels`,
        dayOf(hour),
        first,
        last,
        hour,
      )
    );
  }

  async reconcileDailyStats(day: string): Promise<number> {
    const from = dayStart(day);
    return await this.#byAgentPages((first, last) =>
      this.#run(
        `INSERT INTO agent_stats_daily (agent_id, tenant_id, day, bytes_up, bytes_down, tunnels)
         SELECT agent_id, tenant_id, ?, SUM(bytes_up), SUM(bytes_down), SUM(tunnels)
           FROM agent_stats_hourly
          WHERE agent_id >= ? AND agent_id <= ? AND hour >= ? AND hour < ?
          GROUP BY agent_id, tenant_id
         ON CONFLICT (agent_id, day) DO UPDATE SET bytes_up = excluded.bytes_up,
           bytes_down = excluded.bytes_down, tunnels = excluded.tunnels`,
        day,
        first,
        last,
        from,
        from + 86_400_000,
      )
    );
  }

  /**
   * Runs `page(first, last)` for the agents with hourly rows, `STATS_AGENT_PAGE` at a time in
   * id order, with a turn of the event loop between pages, and sums what it returns. The
   * statistics jobs scan the hourly rows (30 days of every agent's hours: 7.2 million rows at
   * 10 000 agents), and `node:sqlite` runs on the event loop that also moves every tunnel's
   * bytes: one statement over a whole day of a thousand agents held it 30–50 ms, and the daily
   * reconciliation ran 31 of them back to back (1.3 s). A page is a few milliseconds at any
   * fleet size (README "Performance", "Statistics jobs in pages").
   */
  async #byAgentPages(page: (first: string, last: string) => number): Promise<number> {
    let after = "";
    let total = 0;
    for (;;) {
      const ids = this.#all(
        "SELECT DISTINCT agent_id FROM agent_stats_hourly WHERE agent_id > ? ORDER BY agent_id LIMIT ?",
        after,
        STATS_AGENT_PAGE,
      ).map((r) => str(r.agent_id));
      if (ids.length === 0) return total;
      after = ids[ids.length - 1];
      total += page(ids[0], after);
      if (ids.length < STATS_AGENT_PAGE) return total;
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  async listAgentDailyStats(
    tenantId: string,
    agentId: string,
    sinceDay: string,
  ): Promise<AgentDailyStat[]> {
    return this.#all(
      `SELECT * FROM agent_stats_daily WHERE tenant_id = ? AND agent_id = ? AND day >= ?
       ORDER BY day`,
      tenantId,
      agentId,
      sinceDay,
    ).map((r) => ({
      agentId: str(r.agent_id),
      tenantId: str(r.tenant_id),
      day: str(r.day),
      bytesUp: num(r.bytes_up),
      bytesDown: num(r.bytes_down),
      tunnels: num(r.tunnels),
    }));
  }

  async purgeExpired(cutoffs: PurgeCutoffs): Promise<PurgeCounts> {
    const now = this.#now();
    // The hourly rows, the big table, a page of agents at a time (see #byAgentPages).
    const hourly = await this.#byAgentPages((first, last) =>
      this.#run(
        "DELETE FROM agent_stats_hourly WHERE agent_id >= ? AND agent_id <= ? AND hour < ?",
        first,
        last,
        cutoffs.hourlyBefore,
      )
    );
    return this.#tx(() => ({
      hourly,
      daily: this.#run("DELETE FROM agent_stats_daily WHERE day < ?", cutoffs.dailyBefore),
      webSessions: this.#run("DELETE FROM web_sessions WHERE expires_at <= ?", now),
      cliSessions: this.#run(
        "DELETE FROM cli_sessions WHERE expires_at < ? OR revoked_at < ?",
        cutoffs.cliSessionsBefore,
        cutoffs.cliSessionsBefore,
      ),
      enrollmentTokens: this.#run(
        "DELETE FROM enrollment_tokens WHERE used_at IS NULL AND expires_at <= ?",
        now,
      ),
      presence: this.#run("DELETE FROM presence WHERE expires_at <= ?", now),
      locks: this.#run("DELETE FROM locks WHERE expires_at <= ?", now),
      rateWindows: this.#run("DELETE FROM rate_windows WHERE expires_at <= ?", now),
    }));
  }

  // Embedded-agent claim

  async getDeviceBySerial(serial: string): Promise<Device | null> {
    const r = this.#get("SELECT * FROM devices WHERE serial = ?", serial);
    return r ? toDevice(r) : null;
  }

  async claimDevice(serial: string, agent: NewAgent): Promise<ClaimResult> {
    return this.#tx((): ClaimResult => {
      const r = this.#get("SELECT * FROM devices WHERE serial = ?", serial);
      if (!r) return { ok: false, reason: "unknown" };
      const device = toDevice(r);
      if (device.claimedAgentId !== null) {
        return {
          ok: false,
          reason: "claimed",
          tenantId: device.tenantId,
          deviceId: device.id,
          agentId: device.claimedAgentId,
          keyPin: strOrNull(r.claim_key_pin),
        };
      }
      const now = this.#now();
      const created = newAgentRecord(agent, device, now);
      this.#insertAgent(created);
      this.#run(
        "UPDATE devices SET claimed_agent_id = ?, claim_key_pin = ?, updated_at = ? WHERE id = ?",
        created.id,
        agent.keyPin ?? null,
        now,
        device.id,
      );
      return {
        ok: true,
        agent: created,
        device: { ...device, claimedAgentId: created.id, updatedAt: now },
      };
    });
  }

  // Reachability, events and webhooks (sqlite_alerts.ts)

  recordPortState(s: PortState) {
    return this.#alerts.recordPortState(s);
  }

  recordPortStates(states: PortState[]) {
    return this.#alerts.recordPortStates(states);
  }

  getPortStatesOf(tenantId: string, siteId: string, hosts: string[]) {
    return this.#alerts.getPortStatesOf(tenantId, siteId, hosts);
  }

  countPortStates(tenantId: string, siteId: string) {
    return this.#alerts.countPortStates(tenantId, siteId);
  }

  pagePortStates(tenantId: string, siteId: string, q: PortStatePageQuery) {
    return this.#alerts.pagePortStates(tenantId, siteId, q);
  }

  listAgentAvailability(agentIds?: string[]) {
    return this.#alerts.listAgentAvailability(agentIds);
  }

  putAgentAvailability(a: AgentAvailability) {
    return this.#alerts.putAgentAvailability(a);
  }

  appendEvent(e: NewTenantEvent) {
    return this.#alerts.appendEvent(e);
  }

  listEvents(tenantId: string, q?: EventQuery) {
    return this.#alerts.listEvents(tenantId, q);
  }

  countUnreadEvents(tenantId: string, reader: EventReader) {
    return this.#alerts.countUnreadEvents(tenantId, reader);
  }

  markEventsRead(tenantId: string, reader: EventReader, seqs: number[] | "all") {
    return this.#alerts.markEventsRead(tenantId, reader, seqs);
  }

  createWebhook(w: Omit<Webhook, "id" | "createdAt">) {
    return this.#alerts.createWebhook(w);
  }

  createWebhookUnder(w: Omit<Webhook, "id" | "createdAt">, max: number) {
    return this.#alerts.createWebhookUnder(w, max);
  }

  listWebhooks(tenantId: string) {
    return this.#alerts.listWebhooks(tenantId);
  }

  getWebhook(tenantId: string, id: string) {
    return this.#alerts.getWebhook(tenantId, id);
  }

  updateWebhook(
    tenantId: string,
    id: string,
    patch: WebhookPatch,
  ) {
    return this.#alerts.updateWebhook(tenantId, id, patch);
  }

  deleteWebhook(tenantId: string, id: string) {
    return this.#alerts.deleteWebhook(tenantId, id);
  }

  createDelivery(d: NewDelivery) {
    return this.#alerts.createDelivery(d);
  }

  claimDelivery(owner: string, leaseMs: number, skipWebhooks?: string[]) {
    return this.#alerts.claimDelivery(owner, leaseMs, skipWebhooks);
  }

  finishDeliveryAttempt(
    id: string,
    owner: string,
    attempt: DeliveryAttempt,
    next: { state: WebhookDelivery["state"]; nextAttemptAt: number },
  ) {
    return this.#alerts.finishDeliveryAttempt(id, owner, attempt, next);
  }

  listDeliveries(tenantId: string, webhookId: string, limit?: number) {
    return this.#alerts.listDeliveries(tenantId, webhookId, limit);
  }

  async purgeEvents(before: number) {
    const r = await this.#alerts.purgeEvents(before);
    // A camera's picture goes with its event, and after SNAPSHOT_KEEP_MS even when no new
    // picture came to drop it (putEventSnapshot's own sweep).
    this.#run(
      "DELETE FROM event_snapshots WHERE at < ?",
      Math.max(before, this.#now() - SNAPSHOT_KEEP_MS),
    );
    return r;
  }

  async close(): Promise<void> {
    if (!this.#db.isOpen) return;
    await this.#checkpointer?.stop();
    this.#statements.clear();
    this.#db.close();
  }
}
