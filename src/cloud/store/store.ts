/**
 * The one storage interface of the cloud. Every record the guide names (tenant, site, agent,
 * device, handle, license, user, credentials, audit) and every multi-node primitive (presence
 * lease, named lock, counter, allowlist version) goes through it, so the embedded SQLite default
 * and the MongoDB backend are interchangeable and pass one conformance suite
 * (`tests/unit/cloud/store/conformance.ts`).
 *
 * Rules every backend keeps:
 * - Times are epoch milliseconds taken from the injected clock, never from `Date.now()`.
 * - Secrets are never stored: only SHA-256 hashes (hex) of tokens are.
 * - A write is all or nothing: a failed call leaves no half-written record.
 * - Lookups by id that are tenant-scoped take the tenant id and return `null` for another
 *   tenant's record, so a caller cannot forget the scope.
 * @module
 */
import type { PortProtocol } from "./port_protocols.ts";

/** One customer organization. */
export interface Tenant {
  id: string;
  name: string;
  createdAt: number;
}

/** One physical location with a shared LAN. */
export interface Site {
  id: string;
  tenantId: string;
  name: string;
  /** Monotonic per-site counter, bumped on every device add / edit / remove. */
  allowlistVersion: number;
  createdAt: number;
  /**
   * Until when its alerts are paused (maintenance: the site's events are recorded, nothing is
   * sent to webhooks, email or chat), or null.
   */
  alertsPausedUntil: number | null;
  /** Who paused them (audit actor), or null. */
  alertsPausedBy: string | null;
}

/** A registered agent; its id is the CN of its client certificate. */
export interface Agent {
  id: string;
  tenantId: string;
  siteId: string;
  /** Host name reported at enrollment or on Hello. */
  hostname: string;
  version: string;
  os: string;
  /** Serial number (hex) of the agent's newest known certificate (issued or presented). */
  certSerial: string;
  /** The name given in the console; empty: the host name is shown. */
  label: string;
  /** When that certificate expires (epoch ms); null for agents enrolled before this was kept. */
  certNotAfter: number | null;
  /** `sha256:<hex>` pin of the CA that issued that certificate; null when not known. */
  certCa: string | null;
  createdAt: number;
  revokedAt: number | null;
}

/** The certificate facts kept per agent (see {@linkcode Store.recordAgentCert}). */
export interface AgentCert {
  serial: string;
  notAfter: number;
  ca: string;
}

/** One target on a site's LAN. */
export interface Device {
  id: string;
  tenantId: string;
  siteId: string;
  /** LAN host: an IP address or a host name. */
  host: string;
  /** Allowed TCP ports, sorted ascending, no duplicates. */
  ports: number[];
  /**
   * What each port speaks, keyed by port: one entry per port of `ports`, chosen when the port was
   * added (default from its number, see `port_protocols.ts`), editable.
   */
  protocols: Record<number, PortProtocol>;
  /** The RTSP stream path remembered per port (e.g. `/Streaming/Channels/101`); absent: none. */
  streamPaths: Record<number, string>;
  /**
   * The camera's lighter second stream per RTSP port (its sub-stream, e.g.
   * `/Streaming/Channels/102`), which the live grid and the thumbnails play instead of the main
   * stream; absent: they play the main one.
   */
  subStreamPaths: Record<number, string>;
  /**
   * Whether the cloud subscribes to the camera's ONVIF events and raises `camera.motion` when it
   * reports motion, `camera.tamper` when it reports tampering, `camera.input` when an alarm input
   * becomes active (events/motion_watch.ts).
   */
  motionAlerts: boolean;
  /**
   * After a camera alert (motion, tampering, an alarm input), how long the same alert of this
   * camera raises no new event, in seconds ({@linkcode DEFAULT_ALERT_QUIET_S} unless set; 0:
   * every time it starts).
   */
  alertQuietSeconds: number;
  /**
   * Until when the device's alerts are snoozed (ms since the epoch): its events are recorded and
   * say so, and none is sent to webhooks, email or chat (a camera a storm sets off); null: not.
   */
  alertsSnoozedUntil: number | null;
  /**
   * Whether the live view plays the camera's sound (when it sends some): an admin turns it off
   * for a camera where listening is not allowed. True unless turned off.
   */
  liveSound: boolean;
  manufacturer: string;
  model: string;
  /** The firmware version the camera gave over ONVIF (`GetDeviceInformation`), or "". */
  firmware: string;
  label: string;
  notes: string;
  /**
   * Loopback address 127.0.X.Y assigned by the cloud, unique across the whole cloud, picked at
   * random (never in sequence: it must not tell a tenant how many devices others have).
   */
  loopbackIp: string;
  createdAt: number;
  updatedAt: number;
  /** Manufacturer serial an embedded agent claims the device by (unique), or null. */
  serial: string | null;
  /** The agent that claimed the device by its serial, or null. */
  claimedAgentId: string | null;
}

/** What {@linkcode Store.updateDevice} may change. */
export type DevicePatch = Partial<
  Pick<
    Device,
    | "host"
    | "ports"
    | "manufacturer"
    | "model"
    | "firmware"
    | "label"
    | "notes"
    | "protocols"
    | "streamPaths"
    | "subStreamPaths"
    | "motionAlerts"
    | "alertQuietSeconds"
    | "alertsSnoozedUntil"
    | "liveSound"
  >
>;

/** A camera's quiet period after an alert unless set: one event a minute per alert at most. */
export const DEFAULT_ALERT_QUIET_S = 60;
/** The longest quiet period (a day). */
export const MAX_ALERT_QUIET_S = 86_400;

/** What {@linkcode Store.queryDevices} looks for. */
export interface DeviceQuery {
  search?: string;
  offset?: number;
  limit?: number;
}

/** A page of devices and how many match in all. */
export interface DevicePage {
  devices: Device[];
  total: number;
}

/** What the console shows beside a page of devices (see {@linkcode Store.listDeviceExtras}). */
export interface DeviceExtras {
  /** Live (not revoked, not expired) handles, newest first. */
  handles: Handle[];
  /** Ids of the devices whose credentials the cloud holds. */
  withCredentials: string[];
  hostKeys: SshHostKey[];
}

/** What {@linkcode Store.querySites} looks for. */
export interface SiteQuery {
  search?: string;
  offset?: number;
  limit?: number;
}

/** A page of sites and how many match in all. */
export interface SitePage {
  sites: Site[];
  total: number;
}

/** What {@linkcode Store.queryAgents} looks for. */
export interface AgentQuery {
  /** One site's agents only. */
  siteId?: string;
  /** Text in the agent's name, host name, id, version or its site's name (case-insensitive). */
  search?: string;
  /** Leave revoked agents out. */
  activeOnly?: boolean;
  offset?: number;
  limit?: number;
}

/** A page of agents and how many match in all. */
export interface AgentPage {
  agents: Agent[];
  total: number;
}

/** A site's agents in numbers (not revoked), for the dashboard and the sites list. */
export interface AgentCounts {
  agents: number;
  /** Those with unexpired presence. */
  online: number;
  /** Their streams, from presence. */
  activeStreams: number;
}

/** What a caller supplies to create a device; the store assigns id, loopback IP and times. */
export interface NewDevice {
  tenantId: string;
  siteId: string;
  host: string;
  ports: number[];
  /** Protocols chosen per port; a port not named gets its default. */
  protocols?: Record<number, PortProtocol>;
  manufacturer?: string;
  model?: string;
  label?: string;
  notes?: string;
  serial?: string;
}

/** An opaque routing token per (device, port). */
export interface Handle {
  /** `h-` + 22 base64url characters (or a legacy `h-` + 12 hex). */
  id: string;
  tenantId: string;
  siteId: string;
  deviceId: string;
  port: number;
  /** The agent this handle sticks to, once one served it. */
  agentId: string | null;
  createdAt: number;
  /** Null for handles that live as long as the device port; set for legacy handles. */
  expiresAt: number | null;
  revokedAt: number | null;
}

/** A site-bound one-shot token that an installer exchanges for an agent certificate. */
export interface EnrollmentToken {
  /** SHA-256 (hex) of the token text. */
  hash: string;
  tenantId: string;
  siteId: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  /** The agent created when the token was used. */
  agentId: string | null;
  /**
   * `sha256:<hex>` pin of the public key the token was used with: until the token expires, the
   * machine holding that key may fetch its identity again (its first answer lost on the way).
   * Null while unused, and for tokens used before this was kept.
   */
  keyPin: string | null;
}

/** The agent record created when an enrollment token is consumed. */
export interface NewAgent {
  /** The id chosen by the caller (it is already the CN of the certificate being signed). */
  id: string;
  hostname: string;
  version: string;
  os: string;
  certSerial: string;
  /** Expiry of the certificate being issued (epoch ms). */
  certNotAfter?: number;
  /** Pin of the CA issuing it. */
  certCa?: string;
  /**
   * Pin of the certificate's public key (kept on the enrollment token, see its `keyPin`, or
   * with a device's claim), never on the agent record.
   */
  keyPin?: string;
}

/** Outcome of {@linkcode Store.consumeEnrollmentToken}. */
export type ConsumeResult =
  | { ok: true; agent: Agent }
  | { ok: false; reason: "unknown" | "used" | "expired" };

/** Roles in order of power. */
export type Role = "superadmin" | "admin" | "operator" | "viewer";

/** A person who signs in. */
export interface User {
  id: string;
  tenantId: string;
  email: string;
  /** Memory-hard KDF output in a self-describing string, never the password. */
  passwordHash: string;
  role: Role;
  createdAt: number;
  disabledAt: number | null;
}

/** A one-time link that sets a user's password (an invite or a reset); only its hash is kept. */
export interface UserInvite {
  /** SHA-256 (hex) of the link's token. */
  hash: string;
  tenantId: string;
  userId: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** A per-user API token (`nt_…`); only its hash is kept. */
export interface ApiToken {
  /** SHA-256 (hex) of the token text. */
  hash: string;
  tenantId: string;
  userId: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** A signed-in browser: the cookie's hash, bound to one user in one tenant. */
export interface WebSession {
  /** SHA-256 (hex) of the cookie value. */
  hash: string;
  tenantId: string;
  userId: string;
  /** SHA-256 (hex) of the session's antiforgery token. */
  csrfHash: string;
  createdAt: number;
  expiresAt: number;
}

/** An operator's CLI session (`ops_…`): sliding expiry under a hard cap, scoped to sites. */
export interface CliSession {
  /** SHA-256 (hex) of the token text. */
  hash: string;
  tenantId: string;
  /** Sites whose devices the session may reach. */
  siteIds: string[];
  /** Who the session is for (display name). */
  operator: string;
  /** The partner's id of the operator, for sessions minted with an API key. */
  externalOperatorId: string | null;
  /** Who minted it: a signed-in user, or a partner API key. */
  issuer: "user" | "api_key";
  /** The user id or API key id that minted it (revoking the key revokes these sessions). */
  issuerRef: string;
  createdAt: number;
  /** Sliding expiry (last successful connect + 30 days), never past hardCapAt. */
  expiresAt: number;
  hardCapAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

/** A partner API key (`nk_…`) that mints CLI sessions; only its hash is kept. */
export interface ApiKey {
  id: string;
  tenantId: string;
  hash: string;
  name: string;
  /** When set, the caller's address must be inside this CIDR. */
  allowedCidr: string | null;
  createdAt: number;
  revokedAt: number | null;
}

/** A per-tenant license GUID for external consoles; only its hash is kept. */
export interface License {
  id: string;
  tenantId: string;
  /** SHA-256 (hex) of the lower-case GUID text. */
  hash: string;
  createdAt: number;
  revokedAt: number | null;
}

/** A device's credentials held by the cloud, sealed (see tenancy/device_secrets.ts). */
export interface DeviceCredentialRecord {
  tenantId: string;
  deviceId: string;
  /** The sealed value (AES-256-GCM); never the password. */
  sealed: string;
  updatedAt: number;
}

/** One append-only audit entry. */
export interface AuditEntry {
  /** Monotonic sequence number assigned by the store. */
  seq: number;
  /** The tenant the event belongs to; null for events with no tenant (e.g. unknown CN). */
  tenantId: string | null;
  at: number;
  /** Who: `user:<id>`, `agent:<id>`, `token:<hash prefix>`, `admin-key`, `system`, … */
  actor: string;
  /** Dotted verb, e.g. `agent.enroll`, `agent.reject_unregistered_cn`, `tunnel.open`. */
  action: string;
  /** What it was done to (an id), or "". */
  target: string;
  /** Free-form JSON-serializable details. Never secrets. */
  detail: Record<string, unknown>;
}

/** What a caller supplies to append an audit entry. */
export type NewAuditEntry = Omit<AuditEntry, "seq" | "at">;

/** What {@linkcode Store.purgeAudit} removed. */
export interface AuditPurge {
  entries: number;
  /** Entries removed per tenant id ("" for entries of no tenant). */
  byTenant: Record<string, number>;
}

/** Filter for {@linkcode Store.listAudit}; newest first. */
export interface AuditQuery {
  /** Only this tenant's entries; omit for all tenants (superadmin). */
  tenantId?: string;
  action?: string;
  actor?: string;
  target?: string;
  /** Only entries with seq < before (pagination cursor). */
  before?: number;
  /** At most this many (default 100, max 1000). */
  limit?: number;
}

/**
 * A cloud node as it last announced itself (the node registry, cloud/nodes.ts): which nodes run,
 * which version, and the settings every node of one deployment must share.
 */
export interface NodeRecord {
  /** Its `--node` name. */
  name: string;
  version: string;
  startedAt: number;
  /** When it last announced itself (the store's clock). */
  seenAt: number;
  /**
   * When it said it stopped (a graceful stop: `SIGTERM`, Ctrl-C), by the store's clock; null
   * while it runs, or after a crash, which only staleness tells. Its next announcement clears it.
   */
  stoppedAt: number | null;
  /** Where siblings reach its internal listener ("" when it has none). */
  internal: string;
  /** The shared settings as this node runs them, flag name → value. */
  settings: Record<string, string>;
}

/**
 * Why a live-view camera session (live_ws.ts `liveKey`: handle and stream path) last failed to
 * open: the camera's own refusal ("the camera answered DESCRIBE with 404 Not Found"). A browser
 * never learns why its upgrade was refused and asks again without upgrading; behind a load
 * balancer that question may reach another node, which reads the answer here.
 */
export interface LiveFailure {
  key: string;
  /** The error's catalogue code (shared/errors.ts). */
  code: string;
  message: string;
  /** When it failed (the store's clock). */
  at: number;
}

/** How long a stored {@linkcode LiveFailure} is kept at most (a put drops the older ones). */
export const LIVE_FAILURE_KEEP_MS = 10 * 60_000;

/**
 * How a camera's motion alerts are doing, as the node that watches it (events/motion_watch.ts)
 * last wrote it: one node watches every camera, and every node's API and console read this.
 */
export interface MotionStatusRecord {
  deviceId: string;
  /** `starting`, `watching` (subscribed) or `failing` (see `error`). */
  state: "starting" | "watching" | "failing";
  /** Why the last subscription failed, in the camera's or the cloud's words. */
  error?: string;
  /** When the camera last reported motion starting (ms), or null. */
  lastMotionAt: number | null;
  /** Since when (ms) the state holds. */
  since: number;
  /** The node that watches the camera. */
  node: string;
  /** The watcher that wrote it (a new one per subscription lifetime): see deleteMotionStatus. */
  watch: string;
}

/**
 * The camera's picture at a `camera.motion` or `camera.tamper` event (the event's
 * `detail.snapshot` names it): what moved, for the operator who reads the alert later.
 */
export interface EventSnapshot {
  id: string;
  tenantId: string;
  siteId: string;
  deviceId: string;
  /** When it was taken (the store's clock). */
  at: number;
  jpeg: Uint8Array;
}

/** Pictures kept per device at most (a put drops its older ones). */
export const SNAPSHOTS_PER_DEVICE = 10;
/** How long a picture is kept at most (a put drops older ones, any device's). */
export const SNAPSHOT_KEEP_MS = 7 * 86_400_000;
/** The largest picture kept. */
export const MAX_EVENT_SNAPSHOT_BYTES = 1 << 20;

/** An agent's "I'm online via node X" lease, renewed on each heartbeat. */
export interface Presence {
  agentId: string;
  tenantId: string;
  siteId: string;
  /** The cloud node that holds the agent's control stream. */
  node: string;
  /** Where sibling nodes reach that node's internal listener ("" when single-node). */
  endpoint: string;
  lastHeartbeat: number;
  expiresAt: number;
  activeStreams: number;
  bytesUp: number;
  bytesDown: number;
  /**
   * Why the agent's data connections cannot be opened, as its last failed dial said ("" while
   * they can, or before it tried): online, yet no tunnel reaches its site.
   */
  dataBlocked: string;
}

/**
 * What a caller supplies to write presence; the store sets lastHeartbeat and expiresAt
 * (`dataBlocked` defaults to "").
 */
export type PresenceUpdate = Omit<Presence, "lastHeartbeat" | "expiresAt" | "dataBlocked"> & {
  dataBlocked?: string;
};

/** One (host, port) pair an agent may dial. */
export interface AllowlistEntry {
  host: string;
  port: number;
}

/** A site's allowlist at one version. */
export interface Allowlist {
  siteId: string;
  version: number;
  /** Sorted by host, then port. */
  entries: AllowlistEntry[];
}

/** The storage interface. All methods are async so network backends fit. */
export interface Store extends AlertStore {
  // Tenants
  createTenant(input: { name: string }): Promise<Tenant>;
  getTenant(id: string): Promise<Tenant | null>;
  listTenants(): Promise<Tenant[]>;

  // Sites
  createSite(input: { tenantId: string; name: string }): Promise<Site>;
  /** Tenant-scoped: null when the site belongs to another tenant. */
  getSite(tenantId: string, id: string): Promise<Site | null>;
  /** Unscoped lookup, for the control plane (which knows only the agent). */
  getSiteById(id: string): Promise<Site | null>;
  listSites(tenantId: string): Promise<Site[]>;
  /**
   * A page of the tenant's sites whose name contains `search` (case-insensitive), oldest first,
   * from `offset`, at most `limit` (default 100, at most 1000), with how many match in all.
   */
  querySites(tenantId: string, query: SiteQuery): Promise<SitePage>;
  /** Tenant-scoped, in one query: these sites (absent or another tenant's left out). */
  getSitesById(tenantId: string, ids: string[]): Promise<Site[]>;
  /** Tenant-scoped rename; null when absent or in another tenant. */
  updateSite(tenantId: string, id: string, patch: { name: string }): Promise<Site | null>;
  /**
   * Pauses the site's alerts until `pause.until` (by `pause.by`), or resumes them (null); the site
   * after, or null when absent or another tenant's.
   */
  setSiteAlertsPause(
    tenantId: string,
    id: string,
    pause: { until: number; by: string } | null,
  ): Promise<Site | null>;
  /**
   * Deletes a site with its devices (and their handles and credentials), enrollment tokens and
   * revoked agents, in one transaction. Refused ("has_agents", nothing written) while an agent
   * of the site is not revoked; "not_found" for another tenant's or an absent site.
   */
  deleteSite(tenantId: string, id: string): Promise<"deleted" | "has_agents" | "not_found">;
  /** Atomically increments and returns the site's allowlist version. */
  bumpAllowlistVersion(siteId: string): Promise<number>;

  // Devices (each change bumps the site's allowlist version: in the same transaction on SQLite,
  // right after the change on MongoDB, whose getAllowlist reads the version first)
  /** Creates a device, assigns a unique loopback IP, bumps the allowlist version. */
  createDevice(input: NewDevice): Promise<Device>;
  /**
   * Creates several devices at once (bulk add), in order, all or none: a failure part-way
   * leaves none of them (one transaction on SQLite; on MongoDB those already inserted are
   * deleted again before the error is thrown, so only a crash in between leaves some). Each
   * site's allowlist version is bumped once for the lot.
   */
  createDevices(inputs: NewDevice[]): Promise<Device[]>;
  getDevice(tenantId: string, id: string): Promise<Device | null>;
  /** The tenant's device with this loopback address (unique cloud-wide), or null. */
  getDeviceByLoopback(tenantId: string, loopbackIp: string): Promise<Device | null>;
  listDevices(tenantId: string, siteId: string): Promise<Device[]>;
  /** Tenant-scoped, in one query: the devices of these sites, oldest first. */
  listDevicesOfSites(tenantId: string, siteIds: string[]): Promise<Device[]>;
  /**
   * Tenant-scoped: the site's devices whose host is one of `hosts` (compared case-insensitively),
   * oldest first — the few a reachability report names, without reading the whole site.
   */
  getDevicesByHost(tenantId: string, siteId: string, hosts: string[]): Promise<Device[]>;
  /**
   * Every tenant's devices with motion alerts on, oldest first, at most `limit` (the motion
   * watch's list; few devices have them on, and an index finds exactly those).
   */
  listMotionAlertDevices(limit: number): Promise<Device[]>;
  /**
   * The tenant's devices whose alerts are snoozed past `now`: device id → until when (ms). The
   * event producer reads this once per tenant per batch rather than every device of a batch
   * (a site losing power raises an event per device); an index finds exactly those.
   */
  snoozedDevices(tenantId: string, now: number): Promise<Map<string, number>>;
  /**
   * Replaces fields given; bumps the allowlist version when host or ports change. Null if absent.
   * `protocols`, `streamPaths` and `subStreamPaths` are merged into the current maps (an empty
   * path forgets one);
   * a port kept keeps its protocol unless named, a new port gets its default.
   */
  updateDevice(tenantId: string, id: string, patch: DevicePatch): Promise<Device | null>;
  /** Deletes the device and its handles; bumps the allowlist version. False if absent. */
  deleteDevice(tenantId: string, id: string): Promise<boolean>;
  /**
   * One page of a site's devices, oldest first, paged in the query: those matching `search`
   * (case-insensitive substring of host, label, manufacturer, model or loopback address, or a
   * port number equal to it), from `offset`, at most `limit` (default 100, at most 1000), with
   * how many match in all.
   */
  queryDevices(tenantId: string, siteId: string, query: DeviceQuery): Promise<DevicePage>;
  /**
   * How many devices each site of the tenant has (sites without devices are absent); only of
   * `siteIds` when given (a page of the sites list, one site), so a big tenant is not counted
   * whole for them.
   */
  countDevicesBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, number>>;
  /**
   * Tenant-scoped, in one call per kind (never a query per device): the live handles of these
   * devices (newest first), which of them have credentials held, and their pinned SSH host keys.
   */
  listDeviceExtras(tenantId: string, deviceIds: string[]): Promise<DeviceExtras>;
  /** The site's current allowlist: every (host, port) of its devices. */
  getAllowlist(siteId: string): Promise<Allowlist>;
  /**
   * Unscoped, in one query: the allowlist version of each of these sites by id (absent sites
   * are left out), so a node reads a whole allowlist only for a site whose version moved.
   */
  getAllowlistVersions(siteIds: string[]): Promise<Record<string, number>>;

  // Handles
  createHandle(handle: Handle): Promise<Handle>;
  /** Unscoped lookup by handle string (the caller checks the tenant and reports 403). */
  getHandle(id: string): Promise<Handle | null>;
  /** The live (not revoked, not expired) handle of (device, port), if any. */
  findHandle(deviceId: string, port: number): Promise<Handle | null>;
  revokeHandle(tenantId: string, id: string): Promise<boolean>;
  /**
   * Records the agent a handle sticks to, only if it has none yet (the first agent that served
   * it keeps it for the handle's lifetime). Returns whether this call pinned it.
   */
  pinHandle(id: string, agentId: string): Promise<boolean>;

  // Enrollment and agents
  createEnrollmentToken(
    token: Omit<EnrollmentToken, "usedAt" | "agentId" | "keyPin">,
  ): Promise<void>;
  /** Unscoped lookup by hash (to audit a refused enrollment in the token's tenant). */
  getEnrollmentToken(hash: string): Promise<EnrollmentToken | null>;
  /** Lists a site's enrollment tokens (hashes only), newest first. */
  listEnrollmentTokens(tenantId: string, siteId: string): Promise<EnrollmentToken[]>;
  /**
   * Tenant-scoped: ends an unused, unexpired token now (its expiry becomes clock.now(), so it
   * can no longer be used). False when absent, another tenant's, used or already expired.
   */
  revokeEnrollmentToken(tenantId: string, hash: string): Promise<boolean>;
  /**
   * Atomically checks the token (known, unused, not expired at clock.now()), marks it used (with
   * `agent.keyPin`) and creates the agent in the token's tenant and site. A failed check writes
   * nothing.
   */
  consumeEnrollmentToken(hash: string, agent: NewAgent): Promise<ConsumeResult>;
  /** Unscoped: the control plane looks agents up by certificate CN. */
  getAgent(id: string): Promise<Agent | null>;
  /** Unscoped, in one query: these agents (absent ones are left out), by id. */
  getAgentsById(ids: string[]): Promise<Agent[]>;
  listAgents(tenantId: string, siteId?: string): Promise<Agent[]>;
  /**
   * Tenant-scoped: a page of the tenant's agents matching `query`, oldest first, from `offset`,
   * at most `limit` (default 100, at most 1000), with how many match in all. The console's and
   * the API's lists read this instead of every agent of a big tenant.
   */
  queryAgents(tenantId: string, query: AgentQuery): Promise<AgentPage>;
  /**
   * Agents not revoked, of every tenant, ordered by id, after `afterId` (null: from the first),
   * at most `limit`: background passes walk all agents a page at a time.
   */
  scanAgents(afterId: string | null, limit: number): Promise<Agent[]>;
  /**
   * A tenant's agents that are not revoked, counted per site with their presence, in one query
   * (sites without such agents are absent); only of `siteIds` when given.
   */
  countAgentsBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, AgentCounts>>;
  /** Updates what the agent reports on Hello. */
  updateAgentInfo(id: string, info: Pick<Agent, "hostname" | "version" | "os">): Promise<void>;
  /** Tenant-scoped: sets the agent's console name; false when absent or another tenant's. */
  renameAgent(tenantId: string, id: string, label: string): Promise<boolean>;
  /** Marks the agent revoked at clock.now(); false if absent or already revoked. */
  revokeAgent(tenantId: string, id: string): Promise<boolean>;
  /**
   * Records the agent's newest certificate (renewal, or first sight of an older one); false and
   * nothing written when the agent is absent or revoked.
   */
  recordAgentCert(id: string, cert: AgentCert): Promise<boolean>;
  /**
   * Unscoped (platform view): non-revoked agents whose known certificate expires before
   * `before` (epoch ms), soonest first, at most `limit`.
   */
  listAgentsByCertExpiry(before: number, limit: number): Promise<Agent[]>;

  // Users and credentials
  createUser(input: Omit<User, "id" | "createdAt" | "disabledAt">): Promise<User>;
  getUser(id: string): Promise<User | null>;
  /** Emails are unique across the cloud, compared case-insensitively. */
  getUserByEmail(email: string): Promise<User | null>;
  /** Stores a one-time password link for a user of `tenantId`. */
  createUserInvite(input: Omit<UserInvite, "createdAt" | "usedAt">): Promise<UserInvite>;
  /** The link by hash, if it exists (used or not). */
  getUserInvite(hash: string): Promise<UserInvite | null>;
  /**
   * Atomically: when the link is unused and unexpired at clock.now(), marks it (and every other
   * open link of the same user) used, sets the user's password hash and enables the user; returns
   * the user. Otherwise null, nothing written.
   */
  consumeUserInvite(hash: string, passwordHash: string): Promise<User | null>;
  /** A tenant's users (home tenant), oldest first. */
  listUsers(tenantId: string): Promise<User[]>;
  /**
   * Tenant-scoped: replaces the fields given (a new password hash, a role, or `disabledAt`:
   * a time to disable, null to enable again). Null when absent or in another tenant.
   */
  updateUser(
    tenantId: string,
    id: string,
    patch: Partial<Pick<User, "passwordHash" | "role" | "disabledAt">>,
  ): Promise<User | null>;
  createApiToken(
    input: Omit<ApiToken, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<ApiToken>;
  getApiToken(hash: string): Promise<ApiToken | null>;
  listApiTokens(tenantId: string, userId: string): Promise<ApiToken[]>;
  touchApiToken(hash: string): Promise<void>;
  revokeApiToken(tenantId: string, hash: string): Promise<boolean>;
  createWebSession(input: Omit<WebSession, "createdAt">): Promise<WebSession>;
  /** The session if it exists and has not expired at clock.now(). */
  getWebSession(hash: string): Promise<WebSession | null>;
  deleteWebSession(hash: string): Promise<void>;
  /** Moves a session to another tenant context (superadmins switching tenants). */
  setWebSessionTenant(hash: string, tenantId: string): Promise<boolean>;
  createCliSession(
    input: Omit<CliSession, "createdAt" | "lastUsedAt" | "revokedAt">,
  ): Promise<CliSession>;
  /** Unscoped lookup by hash (the caller checks revocation and expiry). */
  getCliSession(hash: string): Promise<CliSession | null>;
  /** A tenant's sessions, newest first; optionally only those that include a site or came from one issuer. */
  listCliSessions(
    tenantId: string,
    filter?: { siteId?: string; issuerRef?: string },
  ): Promise<CliSession[]>;
  /** Records a successful connect: lastUsedAt = now, expiresAt = min(now + slideMs, hardCapAt). */
  slideCliSession(hash: string, slideMs: number): Promise<CliSession | null>;
  revokeCliSession(tenantId: string, hash: string): Promise<boolean>;
  /** Revokes every live session an issuer minted; returns how many. */
  revokeCliSessionsByIssuer(tenantId: string, issuerRef: string): Promise<number>;
  createApiKey(input: Omit<ApiKey, "id" | "createdAt" | "revokedAt">): Promise<ApiKey>;
  getApiKeyByHash(hash: string): Promise<ApiKey | null>;
  listApiKeys(tenantId: string): Promise<ApiKey[]>;
  revokeApiKey(tenantId: string, id: string): Promise<boolean>;
  createLicense(input: { tenantId: string; hash: string }): Promise<License>;
  getLicenseByHash(hash: string): Promise<License | null>;
  listLicenses(tenantId: string): Promise<License[]>;
  revokeLicense(tenantId: string, id: string): Promise<boolean>;

  // Audit (append-only; only the retention purge removes entries)
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;
  /**
   * The retention purge (`--audit-retention-days`): deletes the oldest entries, in sequence
   * order, while they are older than `before`, and stops at the first that is not (an entry
   * written under a clock that stepped back waits for the ones before it). A page at a time; it
   * never holds the event loop for the whole trail. Returns how many went, in all and per tenant
   * ("" for entries of no tenant).
   */
  purgeAudit(before: number): Promise<AuditPurge>;

  // Device credentials (sealed; removed with the device)
  /** Stores (inserts or replaces) a device's sealed credentials; false when the device is absent. */
  putDeviceCredentials(tenantId: string, deviceId: string, sealed: string): Promise<boolean>;
  /** Tenant-scoped: null when absent or the device belongs to another tenant. */
  getDeviceCredentials(tenantId: string, deviceId: string): Promise<DeviceCredentialRecord | null>;
  /** Removes a device's credentials; false when there were none. */
  deleteDeviceCredentials(tenantId: string, deviceId: string): Promise<boolean>;

  // Multi-node primitives
  /** Writes the agent's presence with expiresAt = now + ttlMs (insert or replace). */
  putPresence(update: PresenceUpdate, ttlMs: number): Promise<Presence>;
  /** The agent's presence if not expired at clock.now(). */
  getPresence(agentId: string): Promise<Presence | null>;
  /** Every unexpired presence of a site. */
  listPresence(siteId: string): Promise<Presence[]>;
  /** The unexpired presence of these agents (absent ones are left out), in one query. */
  getPresenceOf(agentIds: string[]): Promise<Presence[]>;
  /** Deletes the presence only when `node` still owns it (a newer owner's lease survives). */
  deletePresence(agentId: string, node: string): Promise<void>;
  /**
   * Acquires or renews the named lock for `owner` when it is free, expired, or already
   * `owner`'s; sets expiresAt = now + ttlMs. Returns whether `owner` holds it now.
   */
  acquireLock(name: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Releases the lock only if `owner` holds it. */
  releaseLock(name: string, owner: string): Promise<void>;
  /**
   * Creates a webhook (as AlertStore's `createWebhook`) unless its tenant has `max` already: null then, and nothing kept. Holds
   * for creates racing on every node (two at 19 of 20 give one webhook and one null).
   */
  createWebhookUnder(w: Omit<Webhook, "id" | "createdAt">, max: number): Promise<Webhook | null>;
  /**
   * Counts one hit on `key` in its fixed window of `windowMs` and returns the hits in it, this
   * one included: a key with no window, or one started `windowMs` or more ago (clock.now()),
   * starts a new window here with 1. Atomic across nodes: limits shared by every node (sign-in
   * failures) count once whichever node a request reaches.
   */
  hitRateWindow(key: string, windowMs: number): Promise<number>;
  /** The hits on `key` in its current window of `windowMs` (0 without one); counts nothing. */
  rateWindowHits(key: string, windowMs: number): Promise<number>;
  /**
   * Takes back one hit on `key` in its current window of `windowMs` (a hit counted ahead that
   * turned out not to count, as a sign-in whose password was right). Nothing when the window has
   * ended or there is none; the count never goes below 0. Atomic across nodes.
   */
  unhitRateWindow(key: string, windowMs: number): Promise<void>;
  /** Atomically adds `by` (default 1) to the named counter and returns the new value. */
  incrementCounter(name: string, by?: number): Promise<number>;
  /** Writes this node's record (insert or replace) with seenAt = clock.now(), stoppedAt null. */
  putNode(node: Omit<NodeRecord, "seenAt" | "stoppedAt">): Promise<NodeRecord>;
  /**
   * Records that the node stopped gracefully (stoppedAt = clock.now()); false when there is no
   * such record.
   */
  markNodeStopped(name: string): Promise<boolean>;
  /** Every node that ever announced itself, by name (callers judge seenAt). */
  listNodes(): Promise<NodeRecord[]>;
  /** Forgets a node (decommissioned); false when there was no such record. */
  deleteNode(name: string): Promise<boolean>;
  /**
   * Remembers why the live view's camera session `f.key` failed to open, at clock.now(),
   * replacing the key's last; drops failures older than {@linkcode LIVE_FAILURE_KEEP_MS}.
   */
  putLiveFailure(f: Omit<LiveFailure, "at">): Promise<void>;
  /** The key's remembered failure if it happened at or after `since`, else null. */
  getLiveFailure(key: string, since: number): Promise<LiveFailure | null>;
  /** Forgets the key's failure (its camera played). */
  deleteLiveFailure(key: string): Promise<void>;

  /** Records a camera's motion status, replacing the device's last (whichever watcher wrote it). */
  putMotionStatus(s: MotionStatusRecord): Promise<void>;
  /** The motion statuses recorded for those of `deviceIds` that have one (any order). */
  getMotionStatuses(deviceIds: string[]): Promise<MotionStatusRecord[]>;
  /**
   * Forgets the device's motion status if watcher `watch` wrote it last (a newer watcher's stays).
   * Deleting a device forgets it too.
   */
  deleteMotionStatus(deviceId: string, watch: string): Promise<void>;

  /**
   * Keeps an event's picture, taken at clock.now(); drops the device's pictures past the newest
   * {@linkcode SNAPSHOTS_PER_DEVICE} and every picture older than {@linkcode SNAPSHOT_KEEP_MS}.
   */
  putEventSnapshot(s: Omit<EventSnapshot, "at">): Promise<void>;
  /** The tenant's picture `id`, or null (another tenant's, dropped, or never taken). */
  getEventSnapshot(tenantId: string, id: string): Promise<EventSnapshot | null>;

  // Agent stats (guide §9)
  /**
   * Records the day totals an agent reported and adds what is new since its last report to
   * the hour of clock.now(): per counter, the difference on the same day, the whole value on a
   * new day or when it went down (the agent lost its counters). A report of an older day than
   * the last one is ignored. Returns the deltas added.
   */
  recordAgentCounters(
    input: Omit<AgentCounters, "at">,
  ): Promise<{ bytesUp: number; bytesDown: number; tunnels: number }>;
  /** The totals the agent last reported, or null. */
  getAgentCounters(agentId: string): Promise<AgentCounters | null>;
  /** The totals these agents last reported (those with none are left out), in one query. */
  getAgentCountersOf(agentIds: string[]): Promise<AgentCounters[]>;
  /** Tenant-scoped hourly deltas of an agent with hour >= sinceMs, oldest first. */
  listAgentHourlyStats(
    tenantId: string,
    agentId: string,
    sinceMs: number,
  ): Promise<AgentHourlyStat[]>;
  /**
   * Tenant-scoped, in one query: the hourly deltas of these agents with hour >= sinceMs, by
   * agent id, then oldest first (a page of the agents list draws its sparklines from it).
   */
  listHourlyStatsOf(
    tenantId: string,
    agentIds: string[],
    sinceMs: number,
  ): Promise<AgentHourlyStat[]>;

  // Background jobs (guide §5.4, §9); each runs under its leader lock on one node at a time
  /**
   * Adds every agent's hourly row of `hour` (epoch ms, hour start) to its daily row of that UTC
   * day. Not idempotent: the hourly rollup runs it once per hour under its lock. Returns how
   * many hourly rows were added.
   */
  addHourToDaily(hour: number): Promise<number>;
  /**
   * Sets every agent's daily row of `day` (UTC YYYY-MM-DD) to the sum of its hourly rows of
   * that day (hourly is the source of truth). Idempotent. Returns how many rows it wrote.
   */
  reconcileDailyStats(day: string): Promise<number>;
  /** Tenant-scoped daily totals of an agent with day >= sinceDay, oldest first. */
  listAgentDailyStats(
    tenantId: string,
    agentId: string,
    sinceDay: string,
  ): Promise<AgentDailyStat[]>;
  /**
   * Deletes what is past retention: hourly rows with hour < hourlyBefore, daily rows with
   * day < dailyBefore, CLI sessions that expired or were revoked before cliSessionsBefore, and,
   * at clock.now(), expired web sessions, expired unused enrollment tokens, expired presence
   * leases, expired locks and ended rate-limit windows.
   */
  purgeExpired(cutoffs: PurgeCutoffs): Promise<PurgeCounts>;

  // Embedded-agent claim (guide §3)
  /** Unscoped lookup of a device by its manufacturer serial. */
  getDeviceBySerial(serial: string): Promise<Device | null>;
  /**
   * Atomically binds the device with this serial to a new agent of the device's tenant and site
   * (the agent record is created as enrollment does) and keeps `agent.keyPin` with the claim.
   * Refuses an unknown or claimed serial (a claimed one says by which agent and key).
   */
  claimDevice(serial: string, agent: NewAgent): Promise<ClaimResult>;

  // Browser terminal (SSH): pinned host keys, the tenant's policy, session recordings
  /** The pinned host key of a device's SSH port (tenant-scoped), or null before first use. */
  getSshHostKey(tenantId: string, deviceId: string, port: number): Promise<SshHostKey | null>;
  /** Inserts or replaces the pin of (device, port); false when the device is not the tenant's. */
  putSshHostKey(pin: SshHostKey): Promise<boolean>;
  /** The tenant's terminal policy as set, or null (the caller applies defaults). */
  getTerminalPolicy(tenantId: string): Promise<TerminalPolicy | null>;
  /** Inserts or replaces the tenant's terminal policy. */
  putTerminalPolicy(tenantId: string, policy: TerminalPolicy): Promise<void>;
  /** Stores a finished session's recording (the id is the caller's). */
  putRecording(rec: TerminalRecording): Promise<void>;
  /** Tenant-scoped: the recording with its cast, or null. */
  getRecording(tenantId: string, id: string): Promise<TerminalRecording | null>;
  /** A tenant's recordings without their casts, newest first (at most `limit`, default 100). */
  listRecordings(
    tenantId: string,
    opts?: { deviceId?: string; limit?: number },
  ): Promise<Omit<TerminalRecording, "cast">[]>;
  /** Deletes a tenant's recordings that ended before `before`; returns how many. */
  deleteRecordingsBefore(tenantId: string, before: number): Promise<number>;

  /** Releases the backend's resources. */
  close(): Promise<void>;
}

/** The day totals an agent last reported on its heartbeat. */
export interface AgentCounters {
  agentId: string;
  tenantId: string;
  /** UTC day (YYYY-MM-DD) the totals belong to. */
  day: string;
  bytesUp: number;
  bytesDown: number;
  tunnels: number;
  /** When they were recorded. */
  at: number;
}

/** One hour of one agent's traffic: what was added during the hour. */
export interface AgentHourlyStat {
  agentId: string;
  tenantId: string;
  /** Epoch ms of the hour's start (UTC). */
  hour: number;
  bytesUp: number;
  bytesDown: number;
  tunnels: number;
}

/** One UTC day of one agent's traffic, rolled up from its hourly rows. */
export interface AgentDailyStat {
  agentId: string;
  tenantId: string;
  /** UTC day, YYYY-MM-DD. */
  day: string;
  bytesUp: number;
  bytesDown: number;
  tunnels: number;
}

/** What {@linkcode Store.purgeExpired} removes. */
export interface PurgeCutoffs {
  /** Hourly rows of hours before this (epoch ms). */
  hourlyBefore: number;
  /** Daily rows of days before this (YYYY-MM-DD). */
  dailyBefore: string;
  /** CLI sessions expired or revoked before this (epoch ms). */
  cliSessionsBefore: number;
}

/** How many records {@linkcode Store.purgeExpired} deleted, per kind. */
export interface PurgeCounts {
  hourly: number;
  daily: number;
  webSessions: number;
  cliSessions: number;
  enrollmentTokens: number;
  presence: number;
  locks: number;
  /** Rate-limit windows that ended (hitRateWindow). */
  rateWindows: number;
}

/** Outcome of {@linkcode Store.claimDevice}. */
export type ClaimResult =
  | { ok: true; agent: Agent; device: Device }
  | { ok: false; reason: "unknown" }
  | {
    ok: false;
    reason: "claimed";
    tenantId: string;
    deviceId: string;
    /** The agent that claimed it (null only after a claim interrupted half-way, see Mongo's). */
    agentId: string | null;
    /**
     * Pin of the public key that claimed it (the claiming {@linkcode NewAgent.keyPin}), so the
     * same device asking again with the same key gets its identity again; null when not kept.
     */
    keyPin: string | null;
  };

/**
 * The host key an SSH port of a device presented first (trust on first use, as OpenSSH's
 * known_hosts), and a different key it presented later, waiting for an admin to accept it.
 */
export interface SshHostKey {
  tenantId: string;
  deviceId: string;
  port: number;
  /** Key type as the server names it (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `rsa-sha2-512`…). */
  algorithm: string;
  /** `SHA256:` + unpadded base64 of the key blob's SHA-256, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** When this key was pinned. */
  pinnedAt: number;
  /** A different key the device presented since (the session was blocked), or null. */
  offeredAlgorithm: string | null;
  offeredFingerprint: string | null;
  offeredAt: number | null;
}

/** A tenant's rules for browser terminals. */
export interface TerminalPolicy {
  /** Concurrent terminal sessions per user. */
  maxPerUser: number;
  /** Concurrent terminal sessions per device. */
  maxPerDevice: number;
  /** Close a session after this long without operator input. */
  idleTimeoutMs: number;
  /** Close a session after this long in any case. */
  maxSessionMs: number;
  /** Record what the operator types too (off by default: passwords typed at prompts). */
  recordInput: boolean;
  /** Keep recordings this long. */
  retentionMs: number;
}

/** One terminal session's recording: asciicast v2 text and what it belongs to. */
export interface TerminalRecording {
  id: string;
  tenantId: string;
  deviceId: string;
  port: number;
  handle: string;
  /** Who opened the session (the audit actor). */
  actor: string;
  startedAt: number;
  endedAt: number;
  /** Why it ended ("closed by the operator", "idle timeout", …). */
  endReason: string;
  /** The asciicast v2 document (header line, then one event per line). */
  cast: string;
}

// Reachability, events and webhooks (issue 15 items 5–8)

/** The reachability an agent last reported for one (host, port) of its site. */
export interface PortState {
  tenantId: string;
  siteId: string;
  host: string;
  port: number;
  up: boolean;
  /** Since when it has been in this state (cloud clock, epoch ms). */
  since: number;
  /** Why the last connect failed ("" when up). */
  error: string;
  /** The agent that reported it. */
  agentId: string;
}

/** A site's reachability in numbers ({@linkcode Store.countPortStates}). */
export interface PortStateCounts {
  total: number;
  checked: number;
  up: number;
}

/** A page of a site's port states ({@linkcode Store.pagePortStates}). */
export interface PortStatePageQuery {
  /** The (host, port) the previous page ended with; the page starts after it. */
  after?: { host: string; port: number };
  /** Only up (true) or only down (false) states. */
  up?: boolean;
  /** The most states in the page. */
  limit: number;
}

/** Outcome of {@linkcode Store.recordPortState}. */
export interface PortStateChange {
  /** Whether the state flipped (or was first seen); false: it was already so. */
  changed: boolean;
  /** The state before (null when first seen). */
  previous: boolean | null;
}

/** Online/offline as the presence job last decided it, per agent. */
export interface AgentAvailability {
  agentId: string;
  tenantId: string;
  siteId: string;
  online: boolean;
  /** Since when it has been online/offline (epoch ms). */
  since: number;
  /** When the agent was first seen gone while online (the grace period runs), or null. */
  absentSince: number | null;
}

/** The event types a tenant can see and subscribe webhooks to. */
export const EVENT_TYPES = [
  "agent.offline",
  "agent.online",
  "agent.data_blocked",
  "device.down",
  "device.up",
  "device.cert_changed",
  "enrollment.used",
  "credential.revoked",
  "camera.motion",
  "camera.tamper",
  "camera.input",
] as const;

/** One event type. */
export type EventType = (typeof EVENT_TYPES)[number];

/** What an event is about: ids and names, whichever apply. */
export interface EventSubject {
  /** A display name of the subject ("Front door camera 127.0.0.5:554", an agent's host name…). */
  name: string;
  agentId?: string;
  siteId?: string;
  siteName?: string;
  deviceId?: string;
  host?: string;
  port?: number;
  /** A grouped device.down / device.up: how many device ports it stands for (detail.ports). */
  count?: number;
}

/** One event of a tenant (the inbox and the webhooks' payload). */
export interface TenantEvent {
  /** Monotonic number assigned by the store (paging and the live stream). */
  seq: number;
  tenantId: string;
  type: EventType;
  at: number;
  subject: EventSubject;
  /** Who or what caused it: `system`, `agent:<id>`, `user:<id>`… */
  actor: string;
  /** Free-form JSON-serializable details. Never secrets. */
  detail: Record<string, unknown>;
  /**
   * When the reader the events were listed for ({@linkcode EventQuery.reader}) marked it read —
   * or, for an event read before read state was kept per reader, when someone in the tenant did —
   * else null.
   */
  readAt: number | null;
}

/**
 * Whose read state an event list, an unread count or a mark is about: each user of a tenant has
 * their own (a colleague's "Mark all read" does not empty my inbox). `id` is `user:<id>` for a
 * user, else the credential's actor (`key:<id>`, `license:<id>`…). Events from before `since` —
 * a user's account creation, 0 for the others — count as read, so a new colleague does not
 * start with 90 days of unread events.
 */
export interface EventReader {
  id: string;
  since: number;
}

/** What a producer supplies; `key` makes a second producer's insert of the same event a no-op. */
export interface NewTenantEvent {
  tenantId: string;
  type: EventType;
  subject: EventSubject;
  actor: string;
  detail: Record<string, unknown>;
  /** Unique per (subject, transition, epoch), e.g. `device.down:<site>:<host>:<port>:<since>`. */
  key: string;
}

/** Filter for {@linkcode Store.listEvents}; newest first. */
export interface EventQuery {
  /** Whose read state `readAt` and `unread` reflect (absent: only what was read tenant-wide). */
  reader?: EventReader;
  /** Only events with seq < before. */
  before?: number;
  /** Only events with seq > after. */
  after?: number;
  /** Only unread events. */
  unread?: boolean;
  /** Only events of these types (absent: every type). */
  types?: readonly EventType[];
  /** Only events about this device (`subject.deviceId`). */
  deviceId?: string;
  /** Only events about this site (`subject.siteId`: its agent, devices and cameras). */
  siteId?: string;
  /** At most this many (default 50, max 500). */
  limit?: number;
}

/**
 * A tenant's webhook. Its signing secret is not stored: it is derived from the cloud secret and
 * `secretSeed` (see events/webhook_secret.ts), so the database alone cannot sign.
 */
/**
 * What a webhook's POST carries (chat_message.ts): the signed JSON event (`json`), or a chat
 * service's message — Slack (and the services that take Slack's, such as Mattermost), Discord,
 * Microsoft Teams (a workflow's Adaptive Card), Google Chat. `auto`: a chat service's by the
 * URL's host, else the JSON event.
 */
export const WEBHOOK_FORMATS = ["auto", "json", "slack", "discord", "teams", "googlechat"] as const;

/** One of {@linkcode WEBHOOK_FORMATS}. */
export type WebhookFormat = typeof WEBHOOK_FORMATS[number];

/** What can change on a webhook (its URL and secret cannot). */
export interface WebhookPatch {
  events?: EventType[];
  format?: WebhookFormat;
  /** New active hours; null: always. */
  schedule?: WebhookSchedule | null;
  /** How it holds back a flood; null: the default. */
  digest?: WebhookDigest | null;
}

/**
 * How a webhook a person reads (an email, a chat channel) holds back a flood
 * (events/alert_digest.ts): at most `each` events as messages of their own in each window of
 * `minutes`, the rest in one summary at the window's end; or `"off"`: every event a message of
 * its own. Null or absent: the default (5 in 10 minutes).
 */
export type WebhookDigest = { each: number; minutes: number } | "off";

/** A webhook's active hours (events/schedule.ts): outside them nothing is sent to it. */
export interface WebhookSchedule {
  /** The days whose window it is, 0 = Sunday. */
  days: number[];
  /** `HH:MM` wall-clock times; `to` before `from` runs overnight, equal is the whole day. */
  from: string;
  to: string;
  /** An IANA time zone (`Europe/Berlin`, `UTC`). */
  timeZone: string;
}

export interface Webhook {
  id: string;
  tenantId: string;
  url: string;
  events: EventType[];
  /** What its POST carries; absent when created: `auto`. Always set when read. */
  format?: WebhookFormat;
  /** Its active hours; null or absent: always. Always set (maybe null) when read. */
  schedule?: WebhookSchedule | null;
  /** How it holds back a flood; null or absent: the default. Always set (maybe null) when read. */
  digest?: WebhookDigest | null;
  /** Random, per webhook; with the cloud secret it gives the signing secret. Never returned. */
  secretSeed: string;
  createdAt: number;
  /** Who created it (audit actor). */
  createdBy: string;
}

/** One attempt at delivering a webhook. */
export interface DeliveryAttempt {
  at: number;
  /** The HTTP status the receiver answered, or null when there was no answer. */
  status: number | null;
  /** Why it failed ("" on a 2xx). */
  error: string;
  /**
   * What the admin should know beside the outcome: an email that went out but not to every
   * address (each refused one with the server's reply), or why a failure is not retried.
   */
  note?: string;
}

/** One event (or test) to deliver to one webhook, with its attempts so far. */
export interface WebhookDelivery {
  /** `<webhook id>:<event seq>` (or `<webhook id>:test:<random>`). */
  id: string;
  tenantId: string;
  webhookId: string;
  eventType: string;
  /** The JSON body sent (the same bytes on every attempt). */
  body: string;
  state: "pending" | "delivered" | "failed";
  attempts: DeliveryAttempt[];
  /** When the next attempt is due (pending), or the claim's end while one node holds it. */
  nextAttemptAt: number;
  createdAt: number;
  /** The node owner holding the claim, or null. */
  claimedBy: string | null;
}

/** What a caller supplies to queue a delivery. */
export type NewDelivery =
  & Pick<WebhookDelivery, "id" | "tenantId" | "webhookId" | "eventType" | "body">
  & {
    /** When it is first due (default now): an email digest waits for its window's end. */
    dueAt?: number;
  };

/** Reachability, events and webhooks; part of {@linkcode Store}. */
export interface AlertStore {
  /**
   * Records an agent's report for (site, host, port) atomically: writes it and answers
   * `changed: true` only when `up` differs from the stored state (or none was stored), so two
   * reports of one flip (two nodes, two agents) produce one change. A report equal to the stored
   * state refreshes nothing but the error and reporter.
   */
  recordPortState(s: PortState): Promise<PortStateChange>;
  /**
   * {@linkcode recordPortState} for many pairs at once, with the same guarantee per pair; answers
   * in the order given. One write transaction on SQLite; on MongoDB one read of the stored
   * states, one write for the pairs whose state did not change, one insert for the pairs never
   * stored and a compare-and-set for each of the others (flips, and inserts another node won).
   * Callers keep a call to a few hundred pairs (a SQLite write holds the node).
   */
  recordPortStates(states: PortState[]): Promise<PortStateChange[]>;
  /**
   * Tenant-scoped: a page of a site's port states in (host, port) order — at most `limit`,
   * after `after`, only up or only down ones when `up` is given — of allowlisted pairs only (as
   * {@linkcode countPortStates} counts them: the states of a removed device are left out).
   * Fewer than `limit` means the last page.
   */
  pagePortStates(tenantId: string, siteId: string, q: PortStatePageQuery): Promise<PortState[]>;
  /**
   * Tenant-scoped: a site's "N of M ports up" without reading its pairs: `total` allowlisted
   * (host, port) pairs (hosts compared case-insensitively), `checked` of them with a stored
   * state, `up` of those up. States of pairs no longer allowlisted are not counted.
   */
  countPortStates(tenantId: string, siteId: string): Promise<PortStateCounts>;
  /**
   * Tenant-scoped: the port states of a site's `hosts` (lowercase, as states are stored), so a
   * page of devices reads its own states and not the whole site's.
   */
  getPortStatesOf(tenantId: string, siteId: string, hosts: string[]): Promise<PortState[]>;

  /**
   * Every agent's availability as last written, or only that of `agentIds` (a page of the
   * presence job's pass), by agent id (unscoped: the leader-locked presence job).
   */
  listAgentAvailability(agentIds?: string[]): Promise<AgentAvailability[]>;
  /** Inserts or replaces an agent's availability. */
  putAgentAvailability(a: AgentAvailability): Promise<void>;

  /** Appends an event at clock.now(); null (nothing written) when its key was recorded before. */
  appendEvent(e: NewTenantEvent): Promise<TenantEvent | null>;
  /** Tenant-scoped events, newest first. */
  listEvents(tenantId: string, q?: EventQuery): Promise<TenantEvent[]>;
  /** How many of the tenant's events are unread for `reader`. */
  countUnreadEvents(tenantId: string, reader: EventReader): Promise<number>;
  /**
   * Marks the given events (or every one there is now) of the tenant read for `reader` at
   * clock.now(); returns how many were unread for it. Other readers' state is not touched.
   */
  markEventsRead(
    tenantId: string,
    reader: EventReader,
    seqs: number[] | "all",
  ): Promise<number>;

  /** Creates a webhook (id and time assigned). */
  createWebhook(w: Omit<Webhook, "id" | "createdAt">): Promise<Webhook>;
  /** Tenant-scoped, oldest first. */
  listWebhooks(tenantId: string): Promise<Webhook[]>;
  /** Tenant-scoped: null when absent or another tenant's. */
  getWebhook(tenantId: string, id: string): Promise<Webhook | null>;
  /**
   * Changes a webhook's event types, format or active hours (its URL and secret stay); the
   * webhook after, or
   * null when absent or another tenant's.
   */
  updateWebhook(
    tenantId: string,
    id: string,
    patch: WebhookPatch,
  ): Promise<Webhook | null>;
  /** Deletes a webhook with its deliveries; false when absent or another tenant's. */
  deleteWebhook(tenantId: string, id: string): Promise<boolean>;

  /** Queues a delivery due now (or at `dueAt`); false (nothing written) when its id exists. */
  createDelivery(d: NewDelivery): Promise<boolean>;
  /**
   * Claims the most overdue pending delivery for `owner` in one single-document operation:
   * its nextAttemptAt moves to now + leaseMs, so no other node claims it until the lease ends.
   * Deliveries of the webhooks in `skipWebhooks` (those the node is sending to already) are
   * left out, however overdue: one receiver's backlog never stands before another's delivery.
   */
  claimDelivery(
    owner: string,
    leaseMs: number,
    skipWebhooks?: string[],
  ): Promise<WebhookDelivery | null>;
  /**
   * Records an attempt of a delivery `owner` holds and releases the claim with the next state.
   * False (nothing written) when `owner` no longer holds it (its lease ended, another node took it).
   */
  finishDeliveryAttempt(
    id: string,
    owner: string,
    attempt: DeliveryAttempt,
    next: { state: WebhookDelivery["state"]; nextAttemptAt: number },
  ): Promise<boolean>;
  /** Tenant-scoped deliveries of a webhook, newest first (at most `limit`, default 50). */
  listDeliveries(tenantId: string, webhookId: string, limit?: number): Promise<WebhookDelivery[]>;
  /**
   * Retention: deletes events older than `before` and finished (delivered or failed) deliveries
   * queued before it; pending deliveries stay. Cameras' pictures taken before `before`, or more
   * than SNAPSHOT_KEEP_MS ago, go too. Returns how many events and deliveries went.
   */
  purgeEvents(before: number): Promise<{ events: number; deliveries: number }>;
}
