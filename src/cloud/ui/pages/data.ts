/**
 * What UI pages read, gathered from the store in one place: agents with their presence (online,
 * Relay node, active streams, last heartbeat), devices with their handles, and sites by id.
 * Reads go to the store directly (the pages are server-rendered); changes go through the JSON API
 * from the browser, so the API's checks are the only ones.
 * @module
 */
import type { Agent, Device, PortState, Site, SshHostKey, Store } from "../../store/store.ts";

/** An agent as the UI shows it. */
export interface AgentRow extends Agent {
  online: boolean;
  relay: string | null;
  activeStreams: number;
  /** The last heartbeat: live from presence, else the time of the last one recorded (offline). */
  lastHeartbeat: number | null;
}

/** A tenant's agents (optionally one site's), not revoked, with presence. */
export async function agentRows(
  store: Store,
  tenantId: string,
  siteId?: string,
): Promise<AgentRow[]> {
  const out: AgentRow[] = [];
  for (const a of await store.listAgents(tenantId, siteId)) {
    if (a.revokedAt !== null) continue;
    const pr = await store.getPresence(a.id);
    out.push({
      ...a,
      online: pr !== null,
      relay: pr?.node ?? null,
      activeStreams: pr?.activeStreams ?? 0,
      lastHeartbeat: pr?.lastHeartbeat ?? (await store.getAgentCounters(a.id))?.at ?? null,
    });
  }
  return out;
}

/** A device with the live handle of each of its ports. */
export interface DeviceRow extends Device {
  handles: Record<number, string | null>;
  /** Whether the cloud holds the device's own credentials (never the credentials). */
  hasCredentials: boolean;
  /** The SSH host keys pinned on its ports by the browser terminal (and any different offer). */
  hostKeys: SshHostKey[];
  /** Each port's reachability as the site's agent last reported it (absent: not checked yet). */
  reachability: Record<number, PortState>;
}

/** A site's devices with their handles. */
export async function deviceRows(
  store: Store,
  tenantId: string,
  siteId: string,
): Promise<DeviceRow[]> {
  return await withLiveHandles(store, tenantId, await store.listDevices(tenantId, siteId));
}

/** Devices shown per page of a site. */
export const DEVICES_PER_PAGE = 100;

/** One page of a site's devices matching `q` (host, name, manufacturer, model, loopback). */
export async function devicePage(
  store: Store,
  tenantId: string,
  siteId: string,
  o: { q?: string; page?: number },
): Promise<{ rows: DeviceRow[]; total: number; all: number; page: number; pages: number }> {
  const every = await store.listDevices(tenantId, siteId);
  const q = (o.q ?? "").trim().toLowerCase();
  const hits = q
    ? every.filter((d) =>
      [d.host, d.label, d.manufacturer, d.model, d.loopbackIp, ...d.ports.map(String)]
        .some((f) => f.toLowerCase().includes(q))
    )
    : every;
  const pages = Math.max(1, Math.ceil(hits.length / DEVICES_PER_PAGE));
  const page = Math.min(Math.max(1, Math.floor(o.page ?? 1)), pages);
  const slice = hits.slice((page - 1) * DEVICES_PER_PAGE, page * DEVICES_PER_PAGE);
  return {
    rows: await withLiveHandles(store, tenantId, slice),
    total: hits.length,
    all: every.length,
    page,
    pages,
  };
}

async function withLiveHandles(
  store: Store,
  tenantId: string,
  devices: Device[],
): Promise<DeviceRow[]> {
  const out: DeviceRow[] = [];
  const states = new Map<string, PortState>();
  for (const siteId of new Set(devices.map((d) => d.siteId))) {
    for (const st of await store.listPortStates(tenantId, siteId)) {
      states.set(`${siteId}|${st.host}|${st.port}`, st);
    }
  }
  for (const d of devices) {
    const reachability: Record<number, PortState> = {};
    for (const p of d.ports) {
      const st = states.get(`${d.siteId}|${d.host.toLowerCase()}|${p}`);
      if (st) reachability[p] = st;
    }
    const handles: Record<number, string | null> = {};
    for (const p of d.ports) handles[p] = (await store.findHandle(d.id, p))?.id ?? null;
    const hasCredentials = (await store.getDeviceCredentials(tenantId, d.id)) !== null;
    const hostKeys: SshHostKey[] = [];
    for (const p of d.ports) {
      const pin = await store.getSshHostKey(tenantId, d.id, p);
      if (pin) hostKeys.push(pin);
    }
    out.push({ ...d, handles, hasCredentials, hostKeys, reachability });
  }
  return out;
}

/** Sites by id (for labels). */
export async function sitesById(store: Store, tenantId: string): Promise<Map<string, Site>> {
  return new Map((await store.listSites(tenantId)).map((s) => [s.id, s]));
}
