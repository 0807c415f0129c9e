/**
 * The MongoDB {@linkcode Store}, for a cloud of several nodes on one shared database (`--store
 * mongodb://…`). It uses only what FerretDB (the tests' server) also has: single-document atomic
 * operations (`findOneAndUpdate` with filters, `$inc`, `$max`, upserts) and unique indexes — no
 * multi-document transactions, no TTL-index expiry, no change streams. So:
 * - every multi-step write is ordered so a kill -9 between any two steps breaks no invariant
 *   (claims before effects; what is pointed to before the pointer), and each says in a comment
 *   what such a crash leaves behind;
 * - expiry (presence leases, locks, sessions, tokens) is checked in every query and the janitor
 *   removes what is past it;
 * - other nodes learn of changes through the store's counters (`incrementCounter`).
 * Security-relevant writes (enrollments, revocations, credentials) use write concern majority,
 * so on a real replica set a failover cannot roll them back.
 * @module
 */
import {
  type EventSnapshot,
  LIVE_FAILURE_KEEP_MS,
  type LiveFailure,
  type MotionStatusRecord,
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
import {
  Binary,
  type Db,
  type Document,
  type Filter,
  type InsertOneOptions,
  MongoClient,
} from "mongodb";
import { type Clock, systemClock } from "../../shared/clock.ts";
import { newId } from "../../shared/ids.ts";
import { AppError } from "../../shared/errors.ts";
import {
  AUDIT_PURGE_PAGE,
  auditLimit,
  escapeRegex,
  listSearch,
  LOOPBACK_CAPACITY,
  LOOPBACK_RANDOM_TRIES,
  newAgentRecord,
  newDeviceRecord,
  normalizePorts,
  pageBounds,
  randomLoopbackIndex,
} from "./rules.ts";
import {
  C,
  ensureIndexes,
  FIELDS,
  isDuplicateKey,
  MongoBase,
  nextOrd,
  pick,
  pickOrNull,
  SECURE,
  upsert,
} from "./mongo_schema.ts";
import { MongoStats } from "./mongo_stats.ts";
import { normalizeProtocols, normalizeStreamPaths } from "./port_protocols.ts";
import { asDevice, MongoDeviceLists } from "./mongo_device_lists.ts";
import { labelled, MongoAgentLists, withDataBlocked } from "./mongo_agent_lists.ts";
import { isStoreOutage } from "./outage.ts";
import { MongoCredentials } from "./mongo_credentials.ts";
import { MongoTerminal } from "./mongo_terminal.ts";
import { backfillEventSubjectIds, MongoAlerts } from "./mongo_alerts.ts";
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
  Handle,
  License,
  NewAgent,
  NewAuditEntry,
  NewDevice,
  NodeRecord,
  Presence,
  PresenceUpdate,
  PurgeCounts,
  PurgeCutoffs,
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

/** Whether `url` selects the MongoDB store. */
export function isMongoUrl(url: string): boolean {
  return url.startsWith("mongodb://") || url.startsWith("mongodb+srv://");
}

/**
 * The driver's timeouts while the cloud runs, so that a request fails fast with
 * `store_unavailable` (503) when the database is unreachable instead of hanging for the
 * driver's defaults (30 s server selection, no socket timeout). An option the URI sets itself
 * (`?serverSelectionTimeoutMS=…`) wins.
 */
export const MONGO_RUNTIME_TIMEOUTS = {
  /** How long an operation waits for a usable server (a primary for writes). */
  serverSelectionTimeoutMS: 3_000,
  /** How long opening one connection may take. */
  connectTimeoutMS: 3_000,
  /** How long a socket may stay silent during an operation before it counts as lost. */
  socketTimeoutMS: 20_000,
} as const;

/** {@linkcode MONGO_RUNTIME_TIMEOUTS} minus what the URI's query string already sets. */
export function driverTimeouts(url: string): Partial<typeof MONGO_RUNTIME_TIMEOUTS> {
  const query = new Set(
    (url.split("?")[1] ?? "").split("&").map((kv) => kv.split("=")[0].toLowerCase()),
  );
  return Object.fromEntries(
    Object.entries(MONGO_RUNTIME_TIMEOUTS).filter(([k]) => !query.has(k.toLowerCase())),
  );
}

/**
 * Connects to the MongoDB at `opts.url` (the database named in its path, default `nanodems`),
 * creates collections and indexes if missing, and returns the store. Keeps trying while the
 * server cannot be reached, and fails after `opts.timeoutMs` (default 10 s).
 */
export async function openMongoStore(
  opts: { url: string; clock?: Clock; timeoutMs?: number },
): Promise<Store> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const client = new MongoClient(opts.url, {
      ...driverTimeouts(opts.url),
      appName: "nanodems-connector",
    });
    try {
      await client.connect();
      // The URI's database (mongodb://hosts/NAME?…), or "nanodems" when it names none.
      const named = /^mongodb(?:\+srv)?:\/\/[^/?]+\/([^?]+)/.exec(opts.url)?.[1];
      const use = client.db(named ? decodeURIComponent(named) : "nanodems");
      await ensureIndexes(use);
      const store = new MongoStore(client, use, opts.clock ?? systemClock);
      store.startBackfill(use);
      return store;
    } catch (e) {
      await client.close().catch(() => {});
      // A fresh client per attempt: a failed connect leaves its topology closed.
      if (Date.now() >= deadline || !isStoreOutage(e)) throw e;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** The store over one MongoDB database. */
/** How long the lock of a webhook create is held at most (a crashed holder's). */
const WEBHOOK_LOCK_MS = 10_000;

class MongoStore extends MongoBase implements Store {
  readonly #client: MongoClient;
  #backfill: Promise<number> = Promise.resolve(0);
  #closing = false;
  readonly #stats: MongoStats;
  readonly #creds: MongoCredentials;
  readonly #terminal: MongoTerminal;
  readonly #alerts: MongoAlerts;
  readonly #deviceLists: MongoDeviceLists;
  readonly #agentLists: MongoAgentLists;

  constructor(client: MongoClient, db: Db, clock: Clock) {
    super(db, clock);
    this.#client = client;
    this.#stats = new MongoStats(db, clock);
    this.#creds = new MongoCredentials(db, clock);
    this.#terminal = new MongoTerminal(db, clock);
    this.#alerts = new MongoAlerts(
      db,
      clock,
      (tenantId, siteId, hosts) => this.getDevicesByHost(tenantId, siteId, hosts),
    );
    this.#deviceLists = new MongoDeviceLists(db, clock);
    this.#agentLists = new MongoAgentLists(db, clock);
  }

  /** Inserts a record with `_id` = its key and a creation-order tie-breaker. */
  async #insert(
    coll: string,
    id: string | number,
    record: object,
    extra: Document = {},
    options: InsertOneOptions = {},
  ) {
    await this.c(coll).insertOne(
      { _id: id as never, ...record, ord: nextOrd(), ...extra },
      options,
    );
  }

  // Tenants

  async createTenant(input: { name: string }): Promise<Tenant> {
    const tenant: Tenant = { id: newId("t"), name: input.name, createdAt: this.now() };
    await this.#insert(C.tenants, tenant.id, tenant);
    return tenant;
  }

  async getTenant(id: string): Promise<Tenant | null> {
    return pickOrNull(await this.c(C.tenants).findOne({ _id: id as never }), FIELDS.tenant);
  }

  listTenants(): Promise<Tenant[]> {
    return this.list(C.tenants, {}, FIELDS.tenant, { createdAt: 1, ord: 1 });
  }

  // Sites

  async createSite(input: { tenantId: string; name: string }): Promise<Site> {
    if (!(await this.getTenant(input.tenantId))) {
      throw new Error(`tenant ${input.tenantId} not found`);
    }
    const site: Site = {
      id: newId("site"),
      tenantId: input.tenantId,
      name: input.name,
      allowlistVersion: 0,
      createdAt: this.now(),
      alertsPausedUntil: null,
      alertsPausedBy: null,
    };
    await this.#insert(C.sites, site.id, site);
    return site;
  }

  async getSite(tenantId: string, id: string): Promise<Site | null> {
    return pickOrNull(await this.c(C.sites).findOne({ _id: id as never, tenantId }), FIELDS.site);
  }

  async getSiteById(id: string): Promise<Site | null> {
    return pickOrNull(await this.c(C.sites).findOne({ _id: id as never }), FIELDS.site);
  }

  listSites(tenantId: string): Promise<Site[]> {
    return this.list(C.sites, { tenantId }, FIELDS.site, { createdAt: 1, ord: 1 });
  }

  async querySites(tenantId: string, query: SiteQuery): Promise<SitePage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    const filter: Document = { tenantId };
    if (search !== null) filter.name = { $regex: escapeRegex(search), $options: "i" };
    const docs = await this.c(C.sites).find(filter).sort({ createdAt: 1, ord: 1 }).skip(offset)
      .limit(limit).toArray();
    return {
      sites: docs.map((d) => pick<Site>(d, FIELDS.site)),
      total: await this.c(C.sites).countDocuments(filter),
    };
  }

  getSitesById(tenantId: string, ids: string[]): Promise<Site[]> {
    return this.list(C.sites, { _id: { $in: ids as never[] }, tenantId }, FIELDS.site, {
      createdAt: 1,
      ord: 1,
    });
  }

  async setSiteAlertsPause(
    tenantId: string,
    id: string,
    pause: { until: number; by: string } | null,
  ): Promise<Site | null> {
    return pickOrNull(
      await this.c(C.sites).findOneAndUpdate(
        { _id: id as never, tenantId },
        { $set: { alertsPausedUntil: pause?.until ?? null, alertsPausedBy: pause?.by ?? null } },
        { returnDocument: "after" },
      ),
      FIELDS.site,
    );
  }

  async updateSite(tenantId: string, id: string, patch: { name: string }): Promise<Site | null> {
    return pickOrNull(
      await this.c(C.sites).findOneAndUpdate(
        { _id: id as never, tenantId },
        { $set: { name: patch.name } },
        { returnDocument: "after" },
      ),
      FIELDS.site,
    );
  }

  async deleteSite(
    tenantId: string,
    id: string,
  ): Promise<"deleted" | "has_agents" | "not_found"> {
    if (!await this.getSite(tenantId, id)) return "not_found";
    if (await this.c(C.agents).findOne({ siteId: id, revokedAt: null })) return "has_agents";
    // What points at the site goes first, the site last: handles, credentials, devices, tokens,
    // presence, the revoked agents and their stats. A crash part-way leaves a site with fewer
    // records (deleting again finishes it), never a record pointing at a missing site.
    const devices = (await this.c(C.devices).find({ siteId: id }, { projection: { _id: 1 } })
      .toArray()).map((d) => d._id as unknown as string);
    const agents = (await this.c(C.agents).find({ siteId: id }, { projection: { _id: 1 } })
      .toArray()).map((a) => a._id as unknown as string);
    await this.c(C.handles).deleteMany({ siteId: id }, SECURE);
    await this.c(C.deviceCredentials).deleteMany({ _id: { $in: devices as never[] } }, SECURE);
    await this.c(C.sshHostKeys).deleteMany({ deviceId: { $in: devices } }, SECURE);
    await this.c(C.devices).deleteMany({ siteId: id }, SECURE);
    await this.c(C.enrollmentTokens).deleteMany({ siteId: id }, SECURE);
    await this.c(C.presence).deleteMany({ siteId: id });
    for (const coll of [C.agentCounters, C.hourly, C.daily]) {
      await this.c(coll).deleteMany({ agentId: { $in: agents } });
    }
    await this.c(C.agents).deleteMany({ siteId: id, revokedAt: { $ne: null } }, SECURE);
    await this.c(C.sites).deleteOne({ _id: id as never, tenantId }, SECURE);
    return "deleted";
  }

  async bumpAllowlistVersion(siteId: string): Promise<number> {
    const r = await this.c(C.sites).findOneAndUpdate(
      { _id: siteId as never },
      { $inc: { allowlistVersion: 1 } },
      { returnDocument: "after", ...SECURE }, // what agents may dial: access-relevant
    );
    if (!r) throw new Error(`site ${siteId} not found`);
    return r.allowlistVersion as number;
  }

  // Devices. Order of every device write: change the device first, bump the site's allowlist
  // version last, and getAllowlist reads the version before the devices. A reader thus never
  // pairs a new version with old entries; a crash between the two steps leaves the change in
  // place with the version not yet bumped (connected agents pick it up at the site's next bump
  // or on reconnect).

  async createDevice(input: NewDevice): Promise<Device> {
    return (await this.createDevices([input]))[0];
  }

  async createDevices(inputs: NewDevice[]): Promise<Device[]> {
    const sites = new Map(inputs.map((i) => [`${i.tenantId}/${i.siteId}`, i]));
    for (const { tenantId, siteId } of sites.values()) {
      if (!(await this.getSite(tenantId, siteId))) {
        throw new Error(`site ${siteId} not found in tenant ${tenantId}`);
      }
    }
    // No multi-document transaction (FerretDB, the tests' MongoDB, has none): the devices go in
    // one by one, and a failure deletes those already in before it is thrown. Each site's
    // version is bumped after, also after such an undo, since an agent may have read the list
    // in between.
    const made: Device[] = [];
    try {
      for (const input of inputs) made.push(await this.#insertDevice(input));
    } catch (e) {
      if (made.length) {
        await this.c(C.devices).deleteMany(
          { _id: { $in: made.map((d) => d.id) } as never },
          SECURE,
        );
      }
      throw e;
    } finally {
      for (const siteId of new Set(made.map((d) => d.siteId))) {
        await this.bumpAllowlistVersion(siteId);
      }
    }
    return made;
  }

  /** Inserts one device (its site checked), without the version bump. */
  async #insertDevice(input: NewDevice): Promise<Device> {
    const now = this.now();
    // Step 1 picks a loopback index (at random, so addresses reveal nothing across tenants; the
    // lowest free one once random picks keep colliding); step 2 inserts the device, whose unique
    // index on the index makes a concurrent taker of the same address fail and pick again. A
    // crash between the steps leaves nothing: the pick is not stored anywhere.
    for (let attempt = 0; attempt < 50; attempt++) {
      const n = attempt < LOOPBACK_RANDOM_TRIES
        ? randomLoopbackIndex()
        : await this.#lowestFreeLoopback();
      const device = newDeviceRecord(input, n, now);
      try {
        await this.#insert(C.devices, device.id, device, {
          loopbackN: n,
          serialKey: device.serial ?? `none:${device.id}`,
        }, SECURE);
      } catch (e) {
        if (!isDuplicateKey(e)) throw e;
        if (await this.c(C.devices).findOne({ loopbackN: n })) continue; // taken: pick again
        throw new Error(`a device with serial ${device.serial} already exists`, { cause: e });
      }
      return device;
    }
    throw new Error("could not assign a loopback address (too much contention)");
  }

  /** The lowest loopback index no device holds (when random picks keep colliding). */
  async #lowestFreeLoopback(): Promise<number> {
    let expected = 0;
    const cursor = this.c(C.devices).find({}, { projection: { loopbackN: 1 } })
      .sort({ loopbackN: 1 });
    for await (const d of cursor) {
      if (d.loopbackN !== expected) break;
      expected++;
    }
    if (expected >= LOOPBACK_CAPACITY) {
      throw new Error(`all ${LOOPBACK_CAPACITY} loopback addresses are in use`);
    }
    return expected;
  }

  async getDevice(tenantId: string, id: string): Promise<Device | null> {
    return asDevice(pickOrNull(
      await this.c(C.devices).findOne({ _id: id as never, tenantId }),
      FIELDS.device,
    ));
  }

  async getDeviceByLoopback(tenantId: string, loopbackIp: string): Promise<Device | null> {
    return asDevice(
      pickOrNull(await this.c(C.devices).findOne({ loopbackIp, tenantId }), FIELDS.device),
    );
  }

  async listDevices(tenantId: string, siteId: string): Promise<Device[]> {
    return (await this.list<Device>(C.devices, { tenantId, siteId }, FIELDS.device, {
      createdAt: 1,
      ord: 1,
    })).map((d) => asDevice(d)!);
  }

  async listDevicesOfSites(tenantId: string, siteIds: string[]): Promise<Device[]> {
    if (!siteIds.length) return [];
    return (await this.list<Device>(
      C.devices,
      { tenantId, siteId: { $in: siteIds } },
      FIELDS.device,
      { createdAt: 1, ord: 1 },
    )).map((d) => asDevice(d)!);
  }

  async getDevicesByHost(tenantId: string, siteId: string, hosts: string[]): Promise<Device[]> {
    if (!hosts.length) return [];
    // Equality first (the site_host index): a report names hosts as the agent's allowlist has
    // them, which is as stored. Only when a host is not found so is the read made again with a
    // case-insensitive match for those hosts.
    const wanted = new Set(hosts.map((h) => h.toLowerCase()));
    const exact = { host: { $in: [...new Set([...hosts, ...wanted])] } };
    const read = (filter: Filter<Document>) =>
      this.list<Device>(C.devices, { siteId, tenantId, ...filter }, FIELDS.device, {
        createdAt: 1,
        ord: 1,
      });
    let found = await read(exact);
    const seen = new Set(found.map((d) => d.host.toLowerCase()));
    const missing = [...wanted].filter((h) => !seen.has(h));
    if (missing.length) {
      found = await read({
        $or: [
          exact,
          ...missing.map((h) => ({ host: { $regex: `^${escapeRegex(h)}$`, $options: "i" } })),
        ],
      });
    }
    return found.map((d) => asDevice(d)!).filter((d) => wanted.has(d.host.toLowerCase()));
  }

  async listMotionAlertDevices(limit: number): Promise<Device[]> {
    if (limit < 1) return [];
    const docs = await this.c(C.devices).find({ motionAlerts: true })
      .sort({ createdAt: 1, ord: 1 }).limit(Math.floor(limit)).toArray();
    return docs.map((d) => asDevice(pick<Device>(d, FIELDS.device))!);
  }

  async snoozedDevices(tenantId: string, now: number): Promise<Map<string, number>> {
    const docs = await this.c(C.devices)
      .find({ tenantId, alertsSnoozedUntil: { $gt: now } })
      .project<{ _id: string; alertsSnoozedUntil: number }>({ _id: 1, alertsSnoozedUntil: 1 })
      .toArray();
    return new Map(docs.map((d) => [String(d._id), Number(d.alertsSnoozedUntil)]));
  }

  async updateDevice(tenantId: string, id: string, patch: DevicePatch): Promise<Device | null> {
    const ports = patch.ports === undefined ? undefined : normalizePorts(patch.ports);
    // The maps depend on the current ports and values: read, then update only if the document
    // is still the one read (compare-and-set on updatedAt and ports), retrying on a race.
    for (let attempt = 0; attempt < 20; attempt++) {
      const raw = await this.c(C.devices).findOne({ _id: id as never, tenantId });
      if (!raw) return null;
      const cur = asDevice(pick<Device>(raw, FIELDS.device))!;
      const nextPorts = ports ?? cur.ports;
      const set: Document = { updatedAt: this.now() };
      for (
        const k of [
          "host",
          "manufacturer",
          "model",
          "firmware",
          "label",
          "notes",
          "motionAlerts",
          "alertQuietSeconds",
          "alertsSnoozedUntil",
          "liveSound",
        ] as const
      ) {
        if (patch[k] !== undefined) set[k] = patch[k];
      }
      set.ports = nextPorts;
      set.protocols = normalizeProtocols(nextPorts, patch.protocols, cur.protocols);
      set.streamPaths = normalizeStreamPaths(nextPorts, patch.streamPaths, cur.streamPaths);
      set.subStreamPaths = normalizeStreamPaths(
        nextPorts,
        patch.subStreamPaths,
        cur.subStreamPaths,
      );
      const r = await this.c(C.devices).updateOne(
        { _id: id as never, tenantId, updatedAt: raw.updatedAt, ports: raw.ports },
        { $set: set },
        SECURE,
      );
      if (r.matchedCount === 0) continue;
      const next: Device = { ...cur, ...set } as Device;
      if (next.host !== cur.host || JSON.stringify(next.ports) !== JSON.stringify(cur.ports)) {
        await this.bumpAllowlistVersion(cur.siteId);
      }
      return next;
    }
    throw new Error(`device ${id} kept changing while being updated`);
  }

  async deleteDevice(tenantId: string, id: string): Promise<boolean> {
    const d = await this.c(C.devices).findOne({ _id: id as never, tenantId });
    if (!d) return false;
    // What points at the device goes first: handles, then sealed credentials, then the device,
    // then the version bump. A crash part-way leaves a device without handles (they are minted
    // again on demand) or without credentials, never a handle to a missing device.
    await this.c(C.handles).deleteMany({ deviceId: id }, SECURE);
    await this.c(C.deviceCredentials).deleteOne({ _id: id as never }, SECURE);
    await this.c(C.sshHostKeys).deleteMany({ deviceId: id }, SECURE);
    await this.c(C.motionStatus).deleteOne({ _id: id as never });
    await this.c(C.eventSnapshots).deleteMany({ deviceId: id });
    const r = await this.c(C.devices).deleteOne({ _id: id as never, tenantId }, SECURE);
    if (r.deletedCount === 0) return false; // a concurrent delete won
    await this.bumpAllowlistVersion(d.siteId as string);
    return true;
  }

  queryDevices(tenantId: string, siteId: string, query: DeviceQuery): Promise<DevicePage> {
    return this.#deviceLists.queryDevices(tenantId, siteId, query);
  }

  countDevicesBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, number>> {
    return this.#deviceLists.countDevicesBySite(tenantId, siteIds);
  }

  listDeviceExtras(tenantId: string, deviceIds: string[]): Promise<DeviceExtras> {
    return this.#deviceLists.listDeviceExtras(tenantId, deviceIds);
  }

  async getAllowlistVersions(siteIds: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const docs = await this.c(C.sites).find(
      { _id: { $in: siteIds as never[] } },
      { projection: { _id: 1, allowlistVersion: 1 } },
    ).toArray();
    for (const d of docs) out[String(d._id)] = Number(d.allowlistVersion ?? 0);
    return out;
  }

  async getAllowlist(siteId: string): Promise<Allowlist> {
    const site = await this.c(C.sites).findOne({ _id: siteId as never });
    const devices = await this.c(C.devices).find({ siteId }, { projection: { host: 1, ports: 1 } })
      .toArray();
    const seen = new Set<string>();
    const entries: AllowlistEntry[] = [];
    for (const d of devices) {
      for (const port of d.ports as number[]) {
        const key = `${port} ${d.host}`;
        if (seen.has(key)) continue;
        seen.add(key);
        entries.push({ host: d.host as string, port });
      }
    }
    entries.sort((a, b) => a.host < b.host ? -1 : a.host > b.host ? 1 : a.port - b.port);
    return { siteId, version: (site?.allowlistVersion as number | undefined) ?? 0, entries };
  }

  // Handles

  async createHandle(handle: Handle): Promise<Handle> {
    await this.#insert(C.handles, handle.id, handle);
    return { ...handle };
  }

  async getHandle(id: string): Promise<Handle | null> {
    return pickOrNull(await this.c(C.handles).findOne({ _id: id as never }), FIELDS.handle);
  }

  async findHandle(deviceId: string, port: number): Promise<Handle | null> {
    const [d] = await this.c(C.handles).find({
      deviceId,
      port,
      revokedAt: null,
      $or: [{ expiresAt: null }, { expiresAt: { $gt: this.now() } }],
    }).sort({ createdAt: -1, ord: -1 }).limit(1).toArray();
    return pickOrNull(d ?? null, FIELDS.handle);
  }

  revokeHandle(tenantId: string, id: string): Promise<boolean> {
    return this.stamp(C.handles, { _id: id as never, tenantId }, "revokedAt");
  }

  async pinHandle(id: string, agentId: string): Promise<boolean> {
    const r = await this.c(C.handles).updateOne(
      { _id: id as never, agentId: null },
      { $set: { agentId } },
    );
    return r.modifiedCount > 0;
  }

  // Enrollment and agents

  async createEnrollmentToken(
    token: Omit<EnrollmentToken, "usedAt" | "agentId" | "keyPin">,
  ): Promise<void> {
    await this.c(C.enrollmentTokens).insertOne(
      {
        _id: token.hash as never,
        ...token,
        usedAt: null,
        agentId: null,
        keyPin: null,
        ord: nextOrd(),
      },
      SECURE,
    );
  }

  async getEnrollmentToken(hash: string): Promise<EnrollmentToken | null> {
    return pickOrNull(
      await this.c(C.enrollmentTokens).findOne({ _id: hash as never }),
      FIELDS.enrollmentToken,
    );
  }

  listEnrollmentTokens(tenantId: string, siteId: string): Promise<EnrollmentToken[]> {
    return this.list(C.enrollmentTokens, { tenantId, siteId }, FIELDS.enrollmentToken, {
      createdAt: -1,
      ord: -1,
    });
  }

  async revokeEnrollmentToken(tenantId: string, hash: string): Promise<boolean> {
    const now = this.now();
    const r = await this.c(C.enrollmentTokens).updateOne(
      { _id: hash as never, tenantId, usedAt: null, expiresAt: { $gt: now } },
      { $set: { expiresAt: now } },
      SECURE,
    );
    return r.modifiedCount > 0;
  }

  async consumeEnrollmentToken(hash: string, agent: NewAgent): Promise<ConsumeResult> {
    const now = this.now();
    // Step 1, the claim: one conditional update marks the token used; of many concurrent
    // callers exactly one matches. Step 2 creates the agent. A crash between them leaves a spent
    // token and no agent: the installer fails and the admin issues a new token; nothing is
    // granted (the certificate is signed only after this returns).
    const claimed = await this.c(C.enrollmentTokens).findOneAndUpdate(
      { _id: hash as never, usedAt: null, expiresAt: { $gt: now } },
      { $set: { usedAt: now, agentId: agent.id, keyPin: agent.keyPin ?? null } },
      { returnDocument: "after", ...SECURE },
    );
    if (!claimed) {
      const t = await this.getEnrollmentToken(hash);
      if (!t) return { ok: false, reason: "unknown" };
      return { ok: false, reason: t.usedAt !== null ? "used" : "expired" };
    }
    const created = newAgentRecord(
      agent,
      pick<EnrollmentToken>(claimed, FIELDS.enrollmentToken),
      now,
    );
    try {
      await this.#insertAgent(created);
    } catch (e) {
      // The agent could not be written (e.g. its id exists): give the token back.
      await this.c(C.enrollmentTokens).updateOne(
        { _id: hash as never, agentId: agent.id },
        { $set: { usedAt: null, agentId: null, keyPin: null } },
        SECURE,
      );
      throw e;
    }
    return { ok: true, agent: created };
  }

  async #insertAgent(a: Agent): Promise<void> {
    await this.c(C.agents).insertOne({ _id: a.id as never, ...a, ord: nextOrd() }, SECURE);
  }

  async getAgent(id: string): Promise<Agent | null> {
    const a = pickOrNull<Agent>(await this.c(C.agents).findOne({ _id: id as never }), FIELDS.agent);
    return a && labelled(a);
  }

  async getAgentsById(ids: string[]): Promise<Agent[]> {
    const docs = await this.c(C.agents).find({ _id: { $in: ids as never[] } }).sort({ _id: 1 })
      .toArray();
    return docs.map((d) => labelled(pick<Agent>(d, FIELDS.agent)));
  }

  async listAgents(tenantId: string, siteId?: string): Promise<Agent[]> {
    const filter = siteId === undefined ? { tenantId } : { tenantId, siteId };
    return (await this.list<Agent>(C.agents, filter, FIELDS.agent, { createdAt: 1, ord: 1 }))
      .map(labelled);
  }

  queryAgents(tenantId: string, query: AgentQuery): Promise<AgentPage> {
    return this.#agentLists.queryAgents(tenantId, query);
  }

  scanAgents(afterId: string | null, limit: number): Promise<Agent[]> {
    return this.#agentLists.scanAgents(afterId, limit);
  }

  countAgentsBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, AgentCounts>> {
    return this.#agentLists.countAgentsBySite(tenantId, siteIds);
  }

  async renameAgent(tenantId: string, id: string, label: string): Promise<boolean> {
    const r = await this.c(C.agents).updateOne({ _id: id as never, tenantId }, { $set: { label } });
    return r.matchedCount > 0;
  }

  async updateAgentInfo(id: string, info: Pick<Agent, "hostname" | "version" | "os">) {
    await this.c(C.agents).updateOne(
      { _id: id as never },
      { $set: { hostname: info.hostname, version: info.version, os: info.os } },
    );
  }

  revokeAgent(tenantId: string, id: string): Promise<boolean> {
    return this.stamp(C.agents, { _id: id as never, tenantId }, "revokedAt");
  }

  async recordAgentCert(id: string, cert: AgentCert): Promise<boolean> {
    // One document, conditional on not revoked: a revocation racing a renewal wins.
    const r = await this.c(C.agents).updateOne(
      { _id: id as never, revokedAt: null },
      { $set: { certSerial: cert.serial, certNotAfter: cert.notAfter, certCa: cert.ca } },
      SECURE,
    );
    return r.matchedCount > 0;
  }

  async listAgentsByCertExpiry(before: number, limit: number): Promise<Agent[]> {
    const n = Math.max(0, Math.floor(limit));
    if (n === 0) return [];
    const docs = await this.c(C.agents)
      .find({
        revokedAt: null,
        certNotAfter: {
          $ne: null,
          $lt: Number.isFinite(before) ? before : Number.MAX_SAFE_INTEGER,
        },
      })
      .sort({ certNotAfter: 1, ord: 1 })
      .limit(n)
      .toArray();
    return docs.map((d) => pick<Agent>(d, FIELDS.agent));
  }

  // Users and credentials (mongo_credentials.ts)

  createUser(input: Omit<User, "id" | "createdAt" | "disabledAt">): Promise<User> {
    return this.#creds.createUser(input);
  }

  getUser(id: string): Promise<User | null> {
    return this.#creds.getUser(id);
  }

  getUserByEmail(email: string): Promise<User | null> {
    return this.#creds.getUserByEmail(email);
  }

  listUsers(tenantId: string): Promise<User[]> {
    return this.#creds.listUsers(tenantId);
  }

  updateUser(
    tenantId: string,
    id: string,
    patch: Partial<Pick<User, "passwordHash" | "role" | "disabledAt">>,
  ): Promise<User | null> {
    return this.#creds.updateUser(tenantId, id, patch);
  }

  createUserInvite(input: Omit<UserInvite, "createdAt" | "usedAt">): Promise<UserInvite> {
    return this.#creds.createUserInvite(input);
  }

  getUserInvite(hash: string): Promise<UserInvite | null> {
    return this.#creds.getUserInvite(hash);
  }

  consumeUserInvite(hash: string, passwordHash: string): Promise<User | null> {
    return this.#creds.consumeUserInvite(hash, passwordHash);
  }

  createApiToken(
    input: Omit<ApiToken, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<ApiToken> {
    return this.#creds.createApiToken(input);
  }

  getApiToken(hash: string): Promise<ApiToken | null> {
    return this.#creds.getApiToken(hash);
  }

  listApiTokens(tenantId: string, userId: string): Promise<ApiToken[]> {
    return this.#creds.listApiTokens(tenantId, userId);
  }

  touchApiToken(hash: string): Promise<void> {
    return this.#creds.touchApiToken(hash);
  }

  revokeApiToken(tenantId: string, hash: string): Promise<boolean> {
    return this.#creds.revokeApiToken(tenantId, hash);
  }

  createWebSession(input: Omit<WebSession, "createdAt">): Promise<WebSession> {
    return this.#creds.createWebSession(input);
  }

  getWebSession(hash: string): Promise<WebSession | null> {
    return this.#creds.getWebSession(hash);
  }

  deleteWebSession(hash: string): Promise<void> {
    return this.#creds.deleteWebSession(hash);
  }

  setWebSessionTenant(hash: string, tenantId: string): Promise<boolean> {
    return this.#creds.setWebSessionTenant(hash, tenantId);
  }

  createCliSession(
    input: Omit<CliSession, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<CliSession> {
    return this.#creds.createCliSession(input);
  }

  getCliSession(hash: string): Promise<CliSession | null> {
    return this.#creds.getCliSession(hash);
  }

  listCliSessions(
    tenantId: string,
    filter: { siteId?: string; issuerRef?: string } = {},
  ): Promise<CliSession[]> {
    return this.#creds.listCliSessions(tenantId, filter);
  }

  slideCliSession(hash: string, slideMs: number): Promise<CliSession | null> {
    return this.#creds.slideCliSession(hash, slideMs);
  }

  revokeCliSession(tenantId: string, hash: string): Promise<boolean> {
    return this.#creds.revokeCliSession(tenantId, hash);
  }

  revokeCliSessionsByIssuer(tenantId: string, issuerRef: string): Promise<number> {
    return this.#creds.revokeCliSessionsByIssuer(tenantId, issuerRef);
  }

  createApiKey(input: Omit<ApiKey, "id" | "createdAt" | "revokedAt">): Promise<ApiKey> {
    return this.#creds.createApiKey(input);
  }

  getApiKeyByHash(hash: string): Promise<ApiKey | null> {
    return this.#creds.getApiKeyByHash(hash);
  }

  listApiKeys(tenantId: string): Promise<ApiKey[]> {
    return this.#creds.listApiKeys(tenantId);
  }

  revokeApiKey(tenantId: string, id: string): Promise<boolean> {
    return this.#creds.revokeApiKey(tenantId, id);
  }

  createLicense(input: { tenantId: string; hash: string }): Promise<License> {
    return this.#creds.createLicense(input);
  }

  getLicenseByHash(hash: string): Promise<License | null> {
    return this.#creds.getLicenseByHash(hash);
  }

  listLicenses(tenantId: string): Promise<License[]> {
    return this.#creds.listLicenses(tenantId);
  }

  revokeLicense(tenantId: string, id: string): Promise<boolean> {
    return this.#creds.revokeLicense(tenantId, id);
  }

  // Device credentials

  async putDeviceCredentials(tenantId: string, deviceId: string, sealed: string): Promise<boolean> {
    if (!(await this.c(C.devices).findOne({ _id: deviceId as never, tenantId }))) return false;
    // The device is checked first, then the upsert; a delete racing in between can leave sealed
    // credentials of a gone device under its never-reused id, which nothing reaches again.
    await upsert(() =>
      this.c(C.deviceCredentials).updateOne(
        { _id: deviceId as never },
        { $set: { tenantId, deviceId, sealed, updatedAt: this.now() } },
        { upsert: true, ...SECURE },
      )
    );
    return true;
  }

  async getDeviceCredentials(
    tenantId: string,
    deviceId: string,
  ): Promise<DeviceCredentialRecord | null> {
    return pickOrNull(
      await this.c(C.deviceCredentials).findOne({ _id: deviceId as never, tenantId }),
      FIELDS.deviceCredentials,
    );
  }

  async deleteDeviceCredentials(tenantId: string, deviceId: string): Promise<boolean> {
    const r = await this.c(C.deviceCredentials).deleteOne(
      { _id: deviceId as never, tenantId },
      SECURE,
    );
    return r.deletedCount > 0;
  }

  // Browser terminal (mongo_terminal.ts)

  getSshHostKey(tenantId: string, deviceId: string, port: number) {
    return this.#terminal.getSshHostKey(tenantId, deviceId, port);
  }
  putSshHostKey(pin: SshHostKey) {
    return this.#terminal.putSshHostKey(pin);
  }
  getTerminalPolicy(tenantId: string) {
    return this.#terminal.getTerminalPolicy(tenantId);
  }
  putTerminalPolicy(tenantId: string, policy: TerminalPolicy) {
    return this.#terminal.putTerminalPolicy(tenantId, policy);
  }
  putRecording(rec: TerminalRecording) {
    return this.#terminal.putRecording(rec);
  }
  getRecording(tenantId: string, id: string) {
    return this.#terminal.getRecording(tenantId, id);
  }
  listRecordings(tenantId: string, opts?: { deviceId?: string; limit?: number }) {
    return this.#terminal.listRecordings(tenantId, opts);
  }
  deleteRecordingsBefore(tenantId: string, before: number) {
    return this.#terminal.deleteRecordingsBefore(tenantId, before);
  }

  // Audit

  async appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    const at = this.now();
    const detail = JSON.parse(JSON.stringify(entry.detail ?? {}));
    // The sequence number is taken first, then the entry written under it: a crash between
    // leaves a gap in the numbering, never two entries with one number.
    const seq = await this.incrementCounter("audit");
    const e: AuditEntry = {
      seq,
      tenantId: entry.tenantId,
      at,
      actor: entry.actor,
      action: entry.action,
      target: entry.target,
      detail,
    };
    // detail is stored as JSON text: free-form keys (dots, `$`) are not all valid field names.
    await this.c(C.audit).insertOne({ _id: seq as never, ...e, detail: JSON.stringify(detail) });
    return e;
  }

  async purgeAudit(before: number): Promise<AuditPurge> {
    const out: AuditPurge = { entries: 0, byTenant: {} };
    for (;;) {
      const page = await this.c(C.audit).find({}, { projection: { _id: 1, tenantId: 1, at: 1 } })
        .sort({ _id: 1 }).limit(AUDIT_PURGE_PAGE).toArray();
      const keep = page.findIndex((d) => Number(d.at) >= before);
      const old = keep === -1 ? page : page.slice(0, keep);
      if (!old.length) return out;
      // By id, not by range: another node may be writing an entry under a number it took
      // before this page was read.
      await this.c(C.audit).deleteMany({ _id: { $in: old.map((d) => d._id) } }, SECURE);
      for (const d of old) {
        const t = typeof d.tenantId === "string" ? d.tenantId : "";
        out.byTenant[t] = (out.byTenant[t] ?? 0) + 1;
      }
      out.entries += old.length;
      if (keep !== -1) return out;
    }
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    const filter: Document = {};
    if (query.tenantId !== undefined) filter.tenantId = query.tenantId;
    if (query.action !== undefined) filter.action = query.action;
    if (query.actor !== undefined) filter.actor = query.actor;
    if (query.target !== undefined) filter.target = query.target;
    if (query.before !== undefined) filter._id = { $lt: query.before };
    const docs = await this.c(C.audit).find(filter).sort({ _id: -1 })
      .limit(auditLimit(query.limit)).toArray();
    return docs.map((d) => ({
      ...pick<AuditEntry>(d, FIELDS.audit),
      detail: JSON.parse(d.detail as string),
    }));
  }

  // Multi-node primitives

  async putPresence(update: PresenceUpdate, ttlMs: number): Promise<Presence> {
    const now = this.now();
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
    await upsert(() =>
      this.c(C.presence).replaceOne({ _id: update.agentId as never }, presence, { upsert: true })
    );
    return presence;
  }

  async getPresence(agentId: string): Promise<Presence | null> {
    const p = pickOrNull<Presence>(
      await this.c(C.presence).findOne({ _id: agentId as never, expiresAt: { $gt: this.now() } }),
      FIELDS.presence,
    );
    return p && withDataBlocked(p);
  }

  async listPresence(siteId: string): Promise<Presence[]> {
    const list = await this.list<Presence>(
      C.presence,
      { siteId, expiresAt: { $gt: this.now() } },
      FIELDS.presence,
      { _id: 1 },
    );
    return list.map(withDataBlocked);
  }

  getPresenceOf(agentIds: string[]): Promise<Presence[]> {
    return this.#agentLists.getPresenceOf(agentIds);
  }

  async deletePresence(agentId: string, node: string): Promise<void> {
    await this.c(C.presence).deleteOne({ _id: agentId as never, node });
  }

  async acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean> {
    // findAndModify "mine or expired" with upsert: a free lock is inserted; a held one matches
    // only for its owner or once expired; a lock held by someone else makes the upsert collide
    // on _id (E11000), which means "not acquired".
    const now = this.now();
    try {
      const r = await this.c(C.locks).findOneAndUpdate(
        { _id: name as never, $or: [{ owner }, { expiresAt: { $lte: now } }] },
        { $set: { owner, expiresAt: now + ttlMs } },
        { upsert: true, returnDocument: "after" },
      );
      return r?.owner === owner;
    } catch (e) {
      if (isDuplicateKey(e)) return false;
      throw e;
    }
  }

  async releaseLock(name: string, owner: string): Promise<void> {
    await this.c(C.locks).deleteOne({ _id: name as never, owner });
  }

  async hitRateWindow(key: string, windowMs: number): Promise<number> {
    const now = this.now();
    const windows = this.c(C.rateWindows);
    // One more hit in the current window; else a new window over none or an old one. Two nodes
    // making one at once collide on _id (the loser counts in the winner's window on retry).
    return await upsert(async () => {
      const cur = await windows.findOneAndUpdate(
        { _id: key as never, start: { $gt: now - windowMs } },
        { $inc: { n: 1 } },
        { returnDocument: "after" },
      );
      if (cur) return cur.n as number;
      const fresh = await windows.findOneAndUpdate(
        { _id: key as never, start: { $lte: now - windowMs } },
        { $set: { start: now, n: 1, expiresAt: now + windowMs } },
        { upsert: true, returnDocument: "after" },
      );
      return fresh!.n as number;
    });
  }

  async rateWindowHits(key: string, windowMs: number): Promise<number> {
    const w = await this.c(C.rateWindows).findOne({
      _id: key as never,
      start: { $gt: this.now() - windowMs },
    });
    return w ? w.n as number : 0;
  }

  async unhitRateWindow(key: string, windowMs: number): Promise<void> {
    await this.c(C.rateWindows).updateOne(
      { _id: key as never, start: { $gt: this.now() - windowMs }, n: { $gt: 0 } },
      { $inc: { n: -1 } },
    );
  }

  async incrementCounter(name: string, by = 1): Promise<number> {
    const r = await upsert(() =>
      this.c(C.counters).findOneAndUpdate(
        { _id: name as never },
        { $inc: { value: by } },
        { upsert: true, returnDocument: "after" },
      )
    );
    return r!.value as number;
  }

  async putNode(node: Omit<NodeRecord, "seenAt" | "stoppedAt">): Promise<NodeRecord> {
    const seenAt = this.now();
    const { name, ...rest } = node;
    await this.c(C.nodes).replaceOne(
      { _id: name as never },
      { ...rest, settings: { ...node.settings }, seenAt, stoppedAt: null },
      { upsert: true },
    );
    return { ...node, settings: { ...node.settings }, seenAt, stoppedAt: null };
  }

  async markNodeStopped(name: string): Promise<boolean> {
    const r = await this.c(C.nodes).updateOne(
      { _id: name as never },
      { $set: { stoppedAt: this.now() } },
    );
    return r.matchedCount > 0;
  }

  async listNodes(): Promise<NodeRecord[]> {
    const docs = await this.c(C.nodes).find({}).sort({ _id: 1 }).toArray();
    return docs.map((d) => ({
      name: String(d._id),
      version: d.version as string,
      startedAt: d.startedAt as number,
      seenAt: d.seenAt as number,
      // Records written before stoppedAt existed lack the field: running, or stale.
      stoppedAt: typeof d.stoppedAt === "number" ? d.stoppedAt : null,
      internal: d.internal as string,
      settings: d.settings as Record<string, string>,
    }));
  }

  async deleteNode(name: string): Promise<boolean> {
    return (await this.c(C.nodes).deleteOne({ _id: name as never })).deletedCount > 0;
  }

  async putLiveFailure(f: Omit<LiveFailure, "at">): Promise<void> {
    const at = this.now();
    await this.c(C.liveFailures).deleteMany({ at: { $lt: at - LIVE_FAILURE_KEEP_MS } });
    await this.c(C.liveFailures).replaceOne(
      { _id: f.key as never },
      { code: f.code, message: f.message, at },
      { upsert: true },
    );
  }

  async getLiveFailure(key: string, since: number): Promise<LiveFailure | null> {
    const d = await this.c(C.liveFailures).findOne({ _id: key as never, at: { $gte: since } });
    return d ? { key, code: String(d.code), message: String(d.message), at: d.at as number } : null;
  }

  async deleteLiveFailure(key: string): Promise<void> {
    await this.c(C.liveFailures).deleteOne({ _id: key as never });
  }

  // Event snapshots

  async putEventSnapshot(s: Omit<EventSnapshot, "at">): Promise<void> {
    const at = this.now();
    const col = this.c(C.eventSnapshots);
    await col.deleteMany({ at: { $lt: at - SNAPSHOT_KEEP_MS } });
    await col.insertOne({
      _id: s.id as never,
      tenantId: s.tenantId,
      siteId: s.siteId,
      deviceId: s.deviceId,
      at,
      jpeg: new Binary(s.jpeg),
    });
    // The device's newest SNAPSHOTS_PER_DEVICE stay (ids only: the pictures are not read).
    const keep = await col.find({ deviceId: s.deviceId }, { projection: { _id: 1 } })
      .sort({ at: -1, _id: -1 }).limit(SNAPSHOTS_PER_DEVICE).toArray();
    await col.deleteMany({ deviceId: s.deviceId, _id: { $nin: keep.map((k) => k._id) } });
  }

  async getEventSnapshot(tenantId: string, id: string): Promise<EventSnapshot | null> {
    const d = await this.c(C.eventSnapshots).findOne({ _id: id as never, tenantId });
    if (!d) return null;
    return {
      id,
      tenantId,
      siteId: String(d.siteId),
      deviceId: String(d.deviceId),
      at: d.at as number,
      jpeg: new Uint8Array((d.jpeg as Binary).buffer),
    };
  }

  // Motion status

  async putMotionStatus(m: MotionStatusRecord): Promise<void> {
    const { deviceId, error, ...rest } = m;
    await this.c(C.motionStatus).replaceOne(
      { _id: deviceId as never },
      { ...rest, error: error ?? null },
      { upsert: true },
    );
  }

  async getMotionStatuses(deviceIds: string[]): Promise<MotionStatusRecord[]> {
    if (deviceIds.length === 0) return [];
    const docs = await this.c(C.motionStatus).find({ _id: { $in: deviceIds as never[] } })
      .toArray();
    return docs.map((d) => ({
      deviceId: String(d._id),
      state: d.state as MotionStatusRecord["state"],
      ...(d.error == null ? {} : { error: String(d.error) }),
      lastMotionAt: (d.lastMotionAt as number | null) ?? null,
      since: d.since as number,
      node: String(d.node),
      watch: String(d.watch),
    }));
  }

  async deleteMotionStatus(deviceId: string, watch: string): Promise<void> {
    await this.c(C.motionStatus).deleteOne({ _id: deviceId as never, watch });
  }

  // Agent stats and background jobs (mongo_stats.ts)

  recordAgentCounters(
    input: Omit<AgentCounters, "at">,
  ): Promise<{ bytesUp: number; bytesDown: number; tunnels: number }> {
    return this.#stats.recordAgentCounters(input);
  }

  getAgentCounters(agentId: string): Promise<AgentCounters | null> {
    return this.#stats.getAgentCounters(agentId);
  }

  getAgentCountersOf(agentIds: string[]): Promise<AgentCounters[]> {
    return this.#agentLists.getAgentCountersOf(agentIds);
  }

  listAgentHourlyStats(
    tenantId: string,
    agentId: string,
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.#stats.listAgentHourlyStats(tenantId, agentId, sinceMs);
  }

  listHourlyStatsOf(
    tenantId: string,
    agentIds: string[],
    sinceMs: number,
  ): Promise<AgentHourlyStat[]> {
    return this.#stats.listHourlyStatsOf(tenantId, agentIds, sinceMs);
  }

  addHourToDaily(hour: number): Promise<number> {
    return this.#stats.addHourToDaily(hour);
  }

  reconcileDailyStats(day: string): Promise<number> {
    return this.#stats.reconcileDailyStats(day);
  }

  listAgentDailyStats(
    tenantId: string,
    agentId: string,
    sinceDay: string,
  ): Promise<AgentDailyStat[]> {
    return this.#stats.listAgentDailyStats(tenantId, agentId, sinceDay);
  }

  purgeExpired(cutoffs: PurgeCutoffs): Promise<PurgeCounts> {
    return this.#stats.purgeExpired(cutoffs);
  }

  // Embedded-agent claim

  async getDeviceBySerial(serial: string): Promise<Device | null> {
    return asDevice(pickOrNull(
      await this.c(C.devices).findOne({ serialKey: serial, serial }),
      FIELDS.device,
    ));
  }

  async claimDevice(serial: string, agent: NewAgent): Promise<ClaimResult> {
    const now = this.now();
    // Step 1, the claim: a conditional update binds the serial to the new agent's id; of many
    // concurrent claimers one matches. Step 2 creates the agent. A crash between them leaves a
    // device claimed by an agent that does not exist: nothing can connect as it (its
    // certificate is signed only after this returns); the admin re-adds the device to re-arm it.
    const before = await this.c(C.devices).findOneAndUpdate(
      { serialKey: serial, serial, claimedAgentId: null },
      // The key's pin stays in the document only: FIELDS.device never reads it into a Device.
      { $set: { claimedAgentId: agent.id, claimKeyPin: agent.keyPin ?? null, updatedAt: now } },
      { returnDocument: "before", ...SECURE },
    );
    if (!before) {
      const doc = await this.c(C.devices).findOne({ serialKey: serial, serial });
      const d = asDevice(pickOrNull(doc, FIELDS.device));
      if (!d) return { ok: false, reason: "unknown" };
      return {
        ok: false,
        reason: "claimed",
        tenantId: d.tenantId,
        deviceId: d.id,
        agentId: d.claimedAgentId,
        keyPin: typeof doc?.claimKeyPin === "string" ? doc.claimKeyPin : null,
      };
    }
    const device = asDevice(pick<Device>(before, FIELDS.device))!;
    const created = newAgentRecord(agent, device, now);
    try {
      await this.#insertAgent(created);
    } catch (e) {
      await this.c(C.devices).updateOne(
        { _id: device.id as never, claimedAgentId: agent.id },
        { $set: { claimedAgentId: null, claimKeyPin: null } },
        SECURE,
      );
      throw e;
    }
    return {
      ok: true,
      agent: created,
      device: { ...device, claimedAgentId: agent.id, updatedAt: now },
    };
  }

  // Reachability, events and webhooks (mongo_alerts.ts)

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

  /**
   * Counting and inserting are two operations here (no multi-document transactions), so they
   * run under the tenant's lock: two creates racing at the cap see each other's insert. A holder
   * that crashed frees the lock after 10 s; a create waits that long at most.
   */
  async createWebhookUnder(w: Omit<Webhook, "id" | "createdAt">, max: number) {
    const name = `webhook-create:${w.tenantId}`;
    const owner = newId("lk");
    const deadline = Date.now() + WEBHOOK_LOCK_MS + 2_000;
    while (!await this.acquireLock(name, owner, WEBHOOK_LOCK_MS)) {
      if (Date.now() > deadline) {
        throw new AppError(
          "conflict",
          "another webhook of this tenant is being created; try again",
        );
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
    try {
      if (await this.c(C.webhooks).countDocuments({ tenantId: w.tenantId }) >= max) return null;
      return await this.#alerts.createWebhook(w);
    } finally {
      await this.releaseLock(name, owner);
    }
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
    await this.c(C.eventSnapshots).deleteMany({
      at: { $lt: Math.max(before, this.now() - SNAPSHOT_KEEP_MS) },
    });
    return r;
  }

  /**
   * Starts the events' `deviceId` and `siteId` backfill (mongo_alerts.ts) in the background: a large
   * collection must not hold the start; until it is done, older events are missing from a
   * camera's own list and from a site's only. `close` stops it between two steps (the next start goes on).
   */
  startBackfill(db: Db): void {
    this.#backfill = backfillEventSubjectIds(db, () => this.#closing).catch(() => 0);
  }

  async close(): Promise<void> {
    this.#closing = true;
    await this.#backfill;
    await this.#client.close();
  }
}
