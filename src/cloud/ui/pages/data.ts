/**
 * What UI pages read, gathered from the store in one place: agents with their presence (online,
 * Relay node, active streams, last heartbeat), devices with their handles, and sites by id.
 * Reads go to the store directly (the pages are server-rendered); changes go through the JSON API
 * from the browser, so the API's checks are the only ones.
 * @module
 */
import type { Agent, Device, PortState, Site, SshHostKey, Store } from "../../store/store.ts";
import { presenceOf } from "../../tenancy/agent_presence.ts";
import { protocolOf } from "../../store/port_protocols.ts";

/** An agent as the UI shows it. */
export interface AgentRow extends Agent {
  online: boolean;
  relay: string | null;
  activeStreams: number;
  /** The last heartbeat: live from presence, else the time of the last one recorded (offline). */
  lastHeartbeat: number | null;
  /** Online, but its data connections cannot open: what its last dial met (else null). */
  dataBlocked: string | null;
}

/** These agents as rows: their presence and last recorded heartbeats read once for all. */
export async function rowsOf(store: Store, agents: Agent[]): Promise<AgentRow[]> {
  const presence = await presenceOf(store, agents);
  const offline = agents.filter((a) => !presence.has(a.id)).map((a) => a.id);
  const counters = new Map(
    (offline.length ? await store.getAgentCountersOf(offline) : []).map((c) => [c.agentId, c]),
  );
  return agents.map((a) => {
    const pr = presence.get(a.id) ?? null;
    return {
      ...a,
      online: pr !== null,
      relay: pr?.node ?? null,
      activeStreams: pr?.activeStreams ?? 0,
      lastHeartbeat: pr?.lastHeartbeat ?? counters.get(a.id)?.at ?? null,
      dataBlocked: pr?.dataBlocked || null,
    };
  });
}

/** One site's agents, not revoked, with presence. */
export async function siteAgentRows(
  store: Store,
  tenantId: string,
  siteId: string,
): Promise<AgentRow[]> {
  const agents = await store.listAgents(tenantId, siteId);
  return await rowsOf(store, agents.filter((a) => a.revokedAt === null));
}

/** Agents shown per page of the agents list. */
export const AGENTS_PER_PAGE = 100;

/**
 * One page of the tenant's agents (not revoked) matching `q` (name, host name, id, version,
 * site name), with presence; a page past the end reads the last one.
 */
export async function agentPage(
  store: Store,
  tenantId: string,
  o: { q?: string; page?: number },
): Promise<{ rows: AgentRow[]; total: number; page: number; pages: number }> {
  const search = (o.q ?? "").trim();
  const { result: r, page, pages } = await readPage(
    o.page,
    AGENTS_PER_PAGE,
    (offset, limit) => store.queryAgents(tenantId, { search, activeOnly: true, offset, limit }),
  );
  return { rows: await rowsOf(store, r.agents), total: r.total, page, pages };
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

/** One page of a site's cameras (its RTSP ports, in device order) and where it stands. */
export interface CameraPage {
  cameras: { device: DeviceRow; port: number }[];
  page: number;
  pages: number;
  total: number;
}

/**
 * Page `want` (from 1; past the last reads the last) of a site's cameras for its live grid, at
 * most `perPage`: the site's devices are read without their handles, and handles only for the
 * page's devices, so a site of hundreds of cameras shows each of them, a page at a time.
 */
export async function cameraPage(
  store: Store,
  tenantId: string,
  siteId: string,
  want: number,
  perPage: number,
): Promise<CameraPage> {
  const all = (await store.listDevices(tenantId, siteId)).flatMap((device) =>
    device.ports.filter((p) => protocolOf(device, p) === "rtsp").map((port) => ({ device, port }))
  );
  const pages = Math.max(1, Math.ceil(all.length / perPage));
  const page = Math.min(Math.max(1, Math.floor(want) || 1), pages);
  const shown = all.slice((page - 1) * perPage, page * perPage);
  const rows = new Map(
    (await withLiveHandles(store, tenantId, [...new Set(shown.map((c) => c.device))]))
      .map((r) => [r.id, r]),
  );
  return {
    cameras: shown.map((c) => ({ device: rows.get(c.device.id)!, port: c.port })),
    page,
    pages,
    total: all.length,
  };
}

/** Devices shown per page of a site. */
export const DEVICES_PER_PAGE = 100;

/** One page of a site's devices matching `q` (host, name, manufacturer, model, loopback, port). */
export async function devicePage(
  store: Store,
  tenantId: string,
  siteId: string,
  o: { q?: string; page?: number },
): Promise<{ rows: DeviceRow[]; total: number; all: number; page: number; pages: number }> {
  const q = (o.q ?? "").trim();
  const { result: r, page, pages } = await readPage(
    o.page,
    DEVICES_PER_PAGE,
    (offset, limit) => store.queryDevices(tenantId, siteId, { search: q, offset, limit }),
  );
  const all = q ? (await store.countDevicesBySite(tenantId, [siteId]))[siteId] ?? 0 : r.total;
  return {
    rows: await withLiveHandles(store, tenantId, r.devices),
    total: r.total,
    all,
    page,
    pages,
  };
}

/**
 * Reads page `want` (from 1) of a list through `read` (offset, limit); a page past the end
 * reads the last one instead.
 */
export async function readPage<P extends { total: number }>(
  want: number | undefined,
  perPage: number,
  read: (offset: number, limit: number) => Promise<P>,
): Promise<{ result: P; page: number; pages: number }> {
  const n = Math.floor(want ?? 1);
  const asked = Number.isNaN(n) ? 1 : Math.max(1, n);
  let result = await read((asked - 1) * perPage, perPage);
  const pages = Math.max(1, Math.ceil(result.total / perPage));
  const page = Math.min(asked, pages);
  if (page !== asked) result = await read((page - 1) * perPage, perPage);
  return { result, page, pages };
}

/** Up to this many sites, a site picker lists them all; past it, a search as you type finds them. */
export const SITE_PICKER_MAX = 50;

/** What a site picker offers (see {@linkcode sitePicker}). */
export interface SitePicker {
  /** Every site while there are few; past SITE_PICKER_MAX only the chosen one. */
  sites: Site[];
  /** How many sites the tenant has. */
  total: number;
  chosen: Site | null;
  /** Past SITE_PICKER_MAX: the picker carries a search that finds the other sites. */
  searchable: boolean;
}

/**
 * The sites a picker lists: all of them up to SITE_PICKER_MAX, else only `chosen` (the others
 * are found by the picker's search). `firstByDefault`: with none chosen, the oldest site is.
 */
export async function sitePicker(
  store: Store,
  tenantId: string,
  chosen: string | undefined,
  firstByDefault = false,
): Promise<SitePicker> {
  const r = await store.querySites(tenantId, { limit: SITE_PICKER_MAX });
  const fallback = firstByDefault ? r.sites[0] ?? null : null;
  if (r.total <= SITE_PICKER_MAX) {
    const pick = r.sites.find((s) => s.id === chosen) ?? fallback;
    return { sites: r.sites, total: r.total, chosen: pick, searchable: false };
  }
  const found = chosen ? (await store.getSitesById(tenantId, [chosen]))[0] ?? null : null;
  const pick = found ?? fallback;
  return { sites: pick ? [pick] : [], total: r.total, chosen: pick, searchable: true };
}

/** Sites shown per page of the sites list. */
export const SITES_PER_PAGE = 100;

/** One page of the tenant's sites whose name contains `q`, and how many sites it has in all. */
export async function sitePage(
  store: Store,
  tenantId: string,
  o: { q?: string; page?: number },
): Promise<{ sites: Site[]; total: number; all: number; page: number; pages: number }> {
  const q = (o.q ?? "").trim();
  const { result: r, page, pages } = await readPage(
    o.page,
    SITES_PER_PAGE,
    (offset, limit) => store.querySites(tenantId, { search: q, offset, limit }),
  );
  const all = q ? (await store.querySites(tenantId, { limit: 1 })).total : r.total;
  return { sites: r.sites, total: r.total, all, page, pages };
}

/** Devices with their live handles, held credentials and host keys: one store call, not one per device. */
async function withLiveHandles(
  store: Store,
  tenantId: string,
  devices: Device[],
): Promise<DeviceRow[]> {
  const extras = await store.listDeviceExtras(tenantId, devices.map((d) => d.id));
  const handles = new Map<string, string>();
  for (const h of extras.handles) {
    const key = `${h.deviceId} ${h.port}`;
    if (!handles.has(key)) handles.set(key, h.id); // newest first: the first one wins
  }
  const creds = new Set(extras.withCredentials);
  const states = new Map<string, PortState>();
  for (const siteId of new Set(devices.map((d) => d.siteId))) {
    // This page's hosts only: a site of 10,000 devices has 20,000 states.
    const hosts = [
      ...new Set(devices.filter((d) => d.siteId === siteId).map((d) => d.host.toLowerCase())),
    ];
    for (const st of await store.getPortStatesOf(tenantId, siteId, hosts)) {
      states.set(`${siteId}|${st.host}|${st.port}`, st);
    }
  }
  return devices.map((d) => {
    const own: Record<number, string | null> = {};
    const reachability: Record<number, PortState> = {};
    for (const p of d.ports) {
      own[p] = handles.get(`${d.id} ${p}`) ?? null;
      const st = states.get(`${d.siteId}|${d.host.toLowerCase()}|${p}`);
      if (st) reachability[p] = st;
    }
    return {
      ...d,
      handles: own,
      hasCredentials: creds.has(d.id),
      hostKeys: extras.hostKeys.filter((k) => k.deviceId === d.id && d.ports.includes(k.port)),
      reachability,
    };
  });
}

/** These sites of the tenant by id (for labels), read in one query. */
export async function sitesById(
  store: Store,
  tenantId: string,
  ids: string[],
): Promise<Map<string, Site>> {
  const sites = await store.getSitesById(tenantId, [...new Set(ids)]);
  return new Map(sites.map((s) => [s.id, s]));
}
