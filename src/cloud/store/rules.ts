/**
 * The record rules every {@linkcode Store} backend applies the same way (so SQLite and MongoDB
 * cannot drift): the loopback address space, port and email normalization, and the shape of a
 * new device and of an agent created by enrollment or claim.
 * @module
 */
import { newId } from "../../shared/ids.ts";
import { normalizeProtocols } from "./port_protocols.ts";
import type { Agent, ApiToken, Device, NewAgent, NewDevice, User } from "./store.ts";
import { DEFAULT_ALERT_QUIET_S } from "./store.ts";

/**
 * How many loopback addresses exist: 127.0.X.Y with X in 0..255 and Y in 1..254, minus
 * 127.0.0.1 (the host's own loopback).
 */
export const LOOPBACK_CAPACITY = 256 * 254 - 1;

/**
 * The `n`-th (0-based) device loopback address: 127.0.0.2 … 127.0.0.254, 127.0.1.1 …
 * 127.0.1.254, … 127.0.255.254. Never a .0 or .255 address and never 127.0.0.1.
 */
export function loopbackAddress(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= LOOPBACK_CAPACITY) {
    throw new RangeError(`loopback index ${n} is outside 0..${LOOPBACK_CAPACITY - 1}`);
  }
  const k = n + 1; // k = 0 would be 127.0.0.1
  return `127.0.${Math.floor(k / 254)}.${(k % 254) + 1}`;
}

/**
 * A loopback index picked at random: addresses are unique cloud-wide but, unlike a counter, tell
 * a tenant nothing about how many devices other tenants added. Backends try a few of these and
 * fall back to the lowest free index when the space is nearly full.
 */
export function randomLoopbackIndex(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0] % LOOPBACK_CAPACITY;
}

/** How many random picks a backend tries before it takes the lowest free index. */
export const LOOPBACK_RANDOM_TRIES = 32;

/** Validates ports (integers 1..65535) and returns them sorted ascending without duplicates. */
export function normalizePorts(ports: number[]): number[] {
  for (const p of ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) {
      throw new RangeError(`invalid TCP port ${p}`);
    }
  }
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** The lower-cased form under which emails are stored and compared. */
export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

/** The record of a new agent placed in `where`'s tenant and site. */
export function newAgentRecord(
  agent: NewAgent,
  where: { tenantId: string; siteId: string },
  now: number,
): Agent {
  // The key's pin belongs to the enrollment token, not to the agent (renewals change keys).
  const { keyPin: _keyPin, ...fields } = agent;
  return {
    ...fields,
    certNotAfter: agent.certNotAfter ?? null,
    certCa: agent.certCa ?? null,
    tenantId: where.tenantId,
    siteId: where.siteId,
    label: "",
    createdAt: now,
    revokedAt: null,
  };
}

/**
 * The record of a new device at loopback index `n`: ports sorted and unique, each port's
 * protocol (the given one, else the port's usual one), empty text fields, unclaimed.
 */
export function newDeviceRecord(input: NewDevice, n: number, now: number): Device {
  const ports = normalizePorts(input.ports);
  return {
    id: newId("dev"),
    tenantId: input.tenantId,
    siteId: input.siteId,
    host: input.host,
    ports,
    protocols: normalizeProtocols(ports, input.protocols),
    streamPaths: {},
    subStreamPaths: {},
    motionAlerts: false,
    alertQuietSeconds: DEFAULT_ALERT_QUIET_S,
    alertsSnoozedUntil: null,
    liveSound: true,
    manufacturer: input.manufacturer ?? "",
    model: input.model ?? "",
    firmware: "",
    label: input.label ?? "",
    notes: input.notes ?? "",
    loopbackIp: loopbackAddress(n),
    createdAt: now,
    updatedAt: now,
    serial: input.serial ?? null,
    claimedAgentId: null,
  };
}

/** Audit page size when the caller gives none, and the most one page may hold. */
export const AUDIT_LIMITS = { default: 100, max: 1000 } as const;

/** The page size an audit query asks for, clamped to 1..max. */
export function auditLimit(limit: number | undefined): number {
  return Math.min(Math.max(Math.trunc(limit ?? AUDIT_LIMITS.default), 1), AUDIT_LIMITS.max);
}

/** The page size of an event listing: default 50, between 1 and 500. */
export function eventLimit(limit: number | undefined): number {
  return Math.min(Math.max(Math.trunc(limit ?? 50), 1), 500);
}

/** Per-counter deltas of an agent's day-total report against the previous one (null: none). */
export function counterDeltas(
  input: { day: string; bytesUp: number; bytesDown: number; tunnels: number },
  prev: { day: string; bytesUp: number; bytesDown: number; tunnels: number } | null,
): { bytesUp: number; bytesDown: number; tunnels: number } | "stale" {
  if (prev && input.day < prev.day) return "stale";
  const same = prev !== null && prev.day === input.day;
  const delta = (cur: number, old: number) => same && cur >= old ? cur - old : cur;
  return {
    bytesUp: delta(input.bytesUp, prev?.bytesUp ?? 0),
    bytesDown: delta(input.bytesDown, prev?.bytesDown ?? 0),
    tunnels: delta(input.tunnels, prev?.tunnels ?? 0),
  };
}

/** Epoch ms of the start of the UTC hour containing `t`. */
export function hourOf(t: number): number {
  return t - (t % 3_600_000);
}

/** The UTC day (YYYY-MM-DD) containing epoch ms `t`. */
export function dayOf(t: number): string {
  return new Date(t).toISOString().slice(0, 10);
}

/** Epoch ms of the start of UTC day `day` (YYYY-MM-DD). */
export function dayStart(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

/** A new user record: emails stored lower-cased, enabled. */
export function newUserRecord(
  input: Omit<User, "id" | "createdAt" | "disabledAt">,
  id: string,
  now: number,
): User {
  return {
    id,
    tenantId: input.tenantId,
    email: normalizeEmail(input.email),
    passwordHash: input.passwordHash,
    role: input.role,
    createdAt: now,
    disabledAt: null,
  };
}

/** A new API token record (never used, not revoked). */
export function newApiTokenRecord(
  input: Omit<ApiToken, "createdAt" | "lastUsedAt" | "revokedAt">,
  now: number,
): ApiToken {
  return {
    hash: input.hash,
    tenantId: input.tenantId,
    userId: input.userId,
    name: input.name,
    createdAt: now,
    lastUsedAt: null,
    revokedAt: null,
  };
}

/** Entries per step of the audit retention purge (`Store.purgeAudit`; a few ms each). */
export const AUDIT_PURGE_PAGE = 500;

/** Page sizes of the paged lists ({@linkcode Store.queryDevices}, {@linkcode Store.queryAgents}). */
export const PAGE_LIMITS = { default: 100, max: 1000 } as const;

/**
 * A paged query's offset and limit, bounded to what the database binds: an offset past the last
 * safe integer (a page number of 1e308 times the page size) reads as the end, not an error.
 */
export function pageBounds(q: { offset?: number; limit?: number }): {
  offset: number;
  limit: number;
} {
  const bound = (n: number, lo: number, hi: number, otherwise: number) =>
    Number.isNaN(n) ? otherwise : Math.min(Math.max(lo, Math.floor(n)), hi);
  return {
    offset: bound(q.offset ?? 0, 0, Number.MAX_SAFE_INTEGER, 0),
    limit: bound(q.limit ?? PAGE_LIMITS.default, 1, PAGE_LIMITS.max, PAGE_LIMITS.default),
  };
}

/** `text` as a literal in a regular expression (MongoDB's `$regex` searches). */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A list search's text, trimmed and lower-cased; null when there is none. */
export function listSearch(search: string | undefined): string | null {
  const s = (search ?? "").trim().toLowerCase();
  return s === "" ? null : s;
}
