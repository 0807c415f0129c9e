/**
 * `/api/sites`: a tenant's sites, their devices and their enrollment tokens. Every lookup is
 * scoped by the caller's tenant (another tenant's id is a 404, never a leak). Device changes
 * bump the site's allowlist version, push it to the agents connected here at once, tell other
 * nodes, and mint a handle for every new port.
 * @module
 */
import { type Context, Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Device, DeviceExtras, PortState, Store } from "../store/store.ts";
import { ensureHandle } from "../tenancy/handle.ts";
import { mintEnrollmentToken } from "../tenancy/enrollment.ts";
import { expandAddresses, portsFor, RangeInputError } from "../tenancy/ip_range.ts";
import { announceChange } from "../watcher.ts";
import type { Principal } from "../tenancy/auth.ts";
import { requireRole } from "../tenancy/roles.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody, query } from "./validate.ts";
import {
  alertsPauseBody,
  bulkBody,
  deviceBody,
  deviceListQuery,
  devicePatch,
  deviceSnoozeBody,
  reachabilityCursor,
  reachabilityQuery,
  siteBody,
  siteListQuery,
  siteMotionBody,
} from "./schemas.ts";
import { protocolOf } from "../store/port_protocols.ts";
import { deviceHostRefusal } from "../tenancy/device_host.ts";
import { siteReachability } from "../events/reachability.ts";
import type { MotionWatch } from "../events/motion_watch.ts";

/** What the site routes need. */
export interface SiteDeps {
  store: Store;
  clock: Clock;
  caPin: string;
  enrollmentTtlMs: number;
  pushAllowlist: (siteId: string) => Promise<void>;
  /** Accept devices at link-local / metadata addresses. */
  allowLinkLocalDevices?: boolean;
  /** The motion alerts' watch, once started (events/motion_watch.ts). */
  motion?: () => Pick<MotionWatch, "poke" | "statuses"> | undefined;
}

/**
 * The device with a live handle for each port (minted when missing) and whether credentials are
 * held; `known` (from listDeviceExtras, for a page of devices) saves the per-device reads.
 */
async function withHandles(
  store: Store,
  clock: Clock,
  d: Device,
  actor: string,
  known?: DeviceExtras,
) {
  const handles: Record<string, string> = {};
  for (const p of d.ports) {
    const live = known?.handles.find((h) => h.deviceId === d.id && h.port === p);
    if (live) {
      handles[p] = live.id;
      continue;
    }
    handles[p] = (await ensureHandle(store, clock, {
      tenantId: d.tenantId,
      siteId: d.siteId,
      deviceId: d.id,
      port: p,
    }, (h) =>
      store.appendAudit({
        tenantId: d.tenantId,
        actor,
        action: "handle.mint",
        target: h.id,
        detail: { device: d.id, port: p },
      }))).id;
  }
  const hasCredentials = known
    ? known.withCredentials.includes(d.id)
    : (await store.getDeviceCredentials(d.tenantId, d.id)) !== null;
  return { ...d, handles, hasCredentials };
}

/** The routes under /api (sites and devices). */
export function siteRoutes(d: SiteDeps): Hono<AuthVars> {
  const { store, clock } = d;
  const app = new Hono<AuthVars>();
  const auth = requireAuth(store);
  const site = async (p: Principal, id: string) => {
    const s = await store.getSite(p.tenantId, id);
    if (!s) throw new AppError("not_found", "no such site");
    return s;
  };
  /** 400 when a per-port map names a port the device does not have. */
  const onlyPorts = (
    ports: number[],
    maps: Record<string, Record<number, unknown> | undefined>,
  ) => {
    for (const [field, m] of Object.entries(maps)) {
      for (const k of Object.keys(m ?? {})) {
        if (!ports.includes(Number(k))) {
          throw new AppError("bad_request", `${field}: port ${k} is not one of the device's ports`);
        }
      }
    }
  };
  /** 400 for an address that is never a device (device_host.ts). */
  const acceptableHost = (host: string) => {
    const refusal = deviceHostRefusal(host, d.allowLinkLocalDevices ?? false);
    if (refusal) throw new AppError("bad_request", refusal);
  };
  const changed = async (
    p: Principal,
    action: string,
    target: string,
    siteId: string,
    detail = {},
  ) => {
    await store.appendAudit({ tenantId: p.tenantId, actor: p.actor, action, target, detail });
    await d.pushAllowlist(siteId);
    await announceChange(store);
  };

  app.get("/sites", auth, async (c) => {
    const { limit, cursor, q } = query(c, siteListQuery);
    const r = await store.querySites(c.get("principal").tenantId, {
      search: q,
      offset: cursor,
      limit,
    });
    const next = cursor + r.sites.length < r.total ? cursor + r.sites.length : null;
    return c.json({ items: r.sites, next, total: r.total });
  });
  app.post("/sites", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const { name } = await jsonBody(c, siteBody);
    const s = await store.createSite({ tenantId: p.tenantId, name });
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "site.create",
      target: s.id,
      detail: { name },
    });
    return c.json(s, 201);
  });
  app.get(
    "/sites/:id",
    auth,
    async (c) => c.json(await site(c.get("principal"), c.req.param("id"))),
  );

  app.patch("/sites/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const before = await site(p, c.req.param("id"));
    const { name } = await jsonBody(c, siteBody);
    const s = await store.updateSite(p.tenantId, before.id, { name });
    if (!s) throw new AppError("not_found", "no such site");
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "site.rename",
      target: s.id,
      detail: { from: before.name, to: name },
    });
    return c.json(s);
  });
  /**
   * Audits alerts held back (a site's pause, a device's snooze: for how many minutes, until when)
   * or given back (what they were held until).
   */
  const auditHold = (
    p: Principal,
    action: string,
    target: string,
    h: { name: string; held: { minutes: number; until: number } | null; wasUntil: number | null },
  ) =>
    store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action,
      target,
      detail: h.held
        ? { name: h.name, minutes: h.held.minutes, until: new Date(h.held.until).toISOString() }
        : { name: h.name, wasUntil: h.wasUntil },
    });
  // Maintenance: the site's events are still recorded, and nothing goes to webhooks, email or
  // chat until the pause ends or someone resumes (events/producer.ts). Operators may: the
  // technician on site is who knows the cameras are about to go down.
  const alertsPause = (resume: boolean) => async (c: Context<AuthVars>) => {
    const p = c.get("principal");
    requireRole(p.role, "operator");
    const before = await site(p, c.req.param("id") ?? "");
    if (p.siteIds && !p.siteIds.includes(before.id)) {
      throw new AppError("not_found", "no such site");
    }
    const minutes = resume ? 0 : (await jsonBody(c, alertsPauseBody)).minutes;
    const until = clock.now() + minutes * 60_000;
    const s = await store.setSiteAlertsPause(
      p.tenantId,
      before.id,
      resume ? null : { until, by: p.actor },
    );
    if (!s) throw new AppError("not_found", "no such site");
    await auditHold(p, resume ? "site.alerts_resume" : "site.alerts_pause", s.id, {
      name: s.name,
      held: resume ? null : { minutes, until },
      wasUntil: before.alertsPausedUntil,
    });
    return c.json(s);
  };
  app.post("/sites/:id/alerts/pause", auth, alertsPause(false));
  app.post("/sites/:id/alerts/resume", auth, alertsPause(true));
  app.delete("/sites/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const s = await site(p, c.req.param("id"));
    const devices = (await store.countDevicesBySite(p.tenantId, [s.id]))[s.id] ?? 0;
    const r = await store.deleteSite(p.tenantId, s.id);
    if (r === "not_found") throw new AppError("not_found", "no such site");
    if (r === "has_agents") {
      throw new AppError(
        "conflict",
        `site "${s.name}" still has agents: revoke them first (Agents page), then delete the site`,
      );
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "site.delete",
      target: s.id,
      detail: { name: s.name, devices },
    });
    await announceChange(store);
    return c.json({ deleted: s.id, devices });
  });

  app.post("/sites/:id/enrollment-tokens", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const s = await site(p, c.req.param("id"));
    const { token, expiresAt } = await mintEnrollmentToken(store, {
      tenantId: p.tenantId,
      siteId: s.id,
      actor: p.actor,
      caPin: d.caPin,
      ttlMs: d.enrollmentTtlMs,
      now: clock.now(),
    });
    return c.json({ token, expiresAt }, 201);
  });

  // Paged in the query (`?limit=&cursor=`, `?q=` searches as the console does): a site with
  // 10,000 devices answers one page, not all of them.
  app.get("/sites/:id/devices", auth, async (c) => {
    const p = c.get("principal");
    const s = await site(p, c.req.param("id"));
    const { limit, cursor, q } = query(c, deviceListQuery);
    const r = await store.queryDevices(p.tenantId, s.id, { search: q, offset: cursor, limit });
    const extras = await store.listDeviceExtras(p.tenantId, r.devices.map((x) => x.id));
    // The page's own states (by host), not the whole site's.
    const hosts = [...new Set(r.devices.map((x) => x.host.toLowerCase()))];
    const states = new Map<string, PortState>();
    for (const st of await store.getPortStatesOf(p.tenantId, s.id, hosts)) {
      states.set(`${st.host}|${st.port}`, st);
    }
    const items = [];
    for (const dev of r.devices) {
      const reachability: Record<string, { up: boolean; since: number; error: string }> = {};
      for (const port of dev.ports) {
        const st = states.get(`${dev.host.toLowerCase()}|${port}`);
        if (st) reachability[port] = { up: st.up, since: st.since, error: st.error };
      }
      items.push({ ...await withHandles(store, clock, dev, p.actor, extras), reachability });
    }
    const next = cursor + r.devices.length < r.total ? cursor + r.devices.length : null;
    return c.json({ items, next, total: r.total });
  });
  // Device reachability as the site's agents last reported it: "N of M ports up" and per port,
  // a page at a time (`?limit=&cursor=`, `?state=down` for what is down).
  app.get("/sites/:id/reachability", auth, async (c) => {
    const p = c.get("principal");
    const s = await site(p, c.req.param("id"));
    const { limit, cursor, state } = query(c, reachabilityQuery);
    const r = await siteReachability(store, p.tenantId, s.id, {
      limit,
      after: cursor,
      up: state === undefined ? undefined : state === "up",
    });
    return c.json({
      // With no agent online the states are the last known ones, not current.
      agentOnline: (await store.listPresence(s.id)).some((x) => x.tenantId === p.tenantId),
      up: r.up,
      total: r.total,
      checked: r.checked,
      ports: r.ports.map((x) => ({
        host: x.host,
        port: x.port,
        up: x.up,
        since: x.since,
        error: x.error,
      })),
      next: r.next && reachabilityCursor(r.next),
    });
  });
  app.post("/sites/:id/devices", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const s = await site(p, c.req.param("id"));
    const body = await jsonBody(c, deviceBody);
    acceptableHost(body.host);
    onlyPorts(body.ports, { protocols: body.protocols });
    if (body.serial && await store.getDeviceBySerial(body.serial)) {
      throw new AppError("conflict", "a device with this serial is already registered");
    }
    const dev = await store.createDevice({ tenantId: p.tenantId, siteId: s.id, ...body });
    const out = await withHandles(store, clock, dev, p.actor);
    await changed(p, "device.create", dev.id, s.id, {
      host: dev.host,
      ports: dev.ports,
      protocols: dev.protocols,
    });
    return c.json(out, 201);
  });
  app.post("/sites/:id/devices/bulk", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const s = await site(p, c.req.param("id"));
    const body = await jsonBody(c, bulkBody);
    let hosts: string[];
    try {
      hosts = expandAddresses(body.range);
    } catch (e) {
      if (e instanceof RangeInputError) throw new AppError("bad_request", e.message);
      throw e;
    }
    for (const h of hosts) acceptableHost(h);
    const ports = body.ports ?? portsFor(body.protocols);
    onlyPorts(ports, { portProtocols: body.portProtocols });
    const existing = new Set((await store.listDevices(p.tenantId, s.id)).map((x) => x.host));
    const skippedHosts = hosts.filter((h) => existing.has(h));
    // All or none: a failure part-way (the store lost, the loopback range full) adds nothing, so
    // a retry adds the whole range rather than "skipping" half of it.
    const devices = await store.createDevices(
      hosts.filter((h) => !existing.has(h)).map((host) => ({
        tenantId: p.tenantId,
        siteId: s.id,
        host,
        ports,
        protocols: body.portProtocols,
      })),
    );
    const created = [];
    for (const dev of devices) created.push(await withHandles(store, clock, dev, p.actor));
    await changed(p, "device.bulk_create", s.id, s.id, {
      range: body.range,
      created: created.length,
      ports,
    });
    return c.json({
      siteId: s.id,
      created,
      skipped: skippedHosts.length,
      skippedHosts,
      message: bulkMessage(created.length, skippedHosts),
    }, 201);
  });
  app.delete("/handles/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const id = c.req.param("id");
    if (!await store.revokeHandle(p.tenantId, id)) {
      throw new AppError("not_found", "no such handle");
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "handle.revoke",
      target: id,
      detail: {},
    });
    return c.json({ revoked: id });
  });
  app.patch("/devices/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const body = await jsonBody(c, devicePatch);
    if (body.host !== undefined) acceptableHost(body.host);
    const cur = await store.getDevice(p.tenantId, c.req.param("id"));
    if (!cur) throw new AppError("not_found", "no such device");
    onlyPorts(body.ports ?? cur.ports, {
      protocols: body.protocols,
      streamPaths: body.streamPaths,
      subStreamPaths: body.subStreamPaths,
    });
    const dev = await store.updateDevice(p.tenantId, cur.id, body);
    if (!dev) throw new AppError("not_found", "no such device");
    if (
      (body.motionAlerts !== undefined && body.motionAlerts !== cur.motionAlerts) ||
      (body.alertQuietSeconds !== undefined && body.alertQuietSeconds !== cur.alertQuietSeconds)
    ) {
      d.motion?.()?.poke();
    }
    const out = await withHandles(store, clock, dev, p.actor);
    await changed(p, "device.update", dev.id, dev.siteId, body);
    return c.json(out);
  });
  // Motion alerts on or off for every camera of a site at once (a site of thirty cameras).
  app.put("/sites/:id/motion-alerts", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const s = await site(p, c.req.param("id"));
    if (p.siteIds && !p.siteIds.includes(s.id)) throw new AppError("not_found", "no such site");
    const { on } = await jsonBody(c, siteMotionBody);
    const cameras = (await store.listDevices(p.tenantId, s.id))
      .filter((dev) => dev.ports.some((port) => protocolOf(dev, port) === "rtsp"));
    let switched = 0;
    for (const dev of cameras) {
      if (dev.motionAlerts === on) continue;
      if (await store.updateDevice(p.tenantId, dev.id, { motionAlerts: on })) switched++;
    }
    await store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "site.motion_alerts",
      target: s.id,
      detail: { on, cameras: cameras.length, switched },
    });
    if (switched) d.motion?.()?.poke();
    return c.json({ siteId: s.id, on, cameras: cameras.length, switched });
  });
  // Snoozed: the device's events are still recorded, and none goes to webhooks, email or chat
  // until then or a resume (events/producer.ts). Operators may: who watches the camera that a
  // storm keeps setting off.
  const snooze = (resume: boolean) => async (c: Context<AuthVars>) => {
    const p = c.get("principal");
    requireRole(p.role, "operator");
    const cur = await store.getDevice(p.tenantId, c.req.param("id") ?? "");
    if (!cur || (p.siteIds && !p.siteIds.includes(cur.siteId))) {
      throw new AppError("not_found", "no such device");
    }
    const minutes = resume ? 0 : (await jsonBody(c, deviceSnoozeBody)).minutes;
    const until = resume ? null : clock.now() + minutes * 60_000;
    const dev = await store.updateDevice(p.tenantId, cur.id, { alertsSnoozedUntil: until });
    if (!dev) throw new AppError("not_found", "no such device");
    await auditHold(p, resume ? "device.alerts_resume" : "device.alerts_snooze", dev.id, {
      name: dev.label || dev.host,
      held: until === null ? null : { minutes, until },
      wasUntil: cur.alertsSnoozedUntil,
    });
    return c.json(await withHandles(store, clock, dev, p.actor));
  };
  app.post("/devices/:id/alerts/snooze", auth, snooze(false));
  app.post("/devices/:id/alerts/resume", auth, snooze(true));
  // Whether the device's motion alerts are on, and what the watching node knows of them.
  app.get("/devices/:id/motion", auth, async (c) => {
    const p = c.get("principal");
    const dev = await store.getDevice(p.tenantId, c.req.param("id"));
    if (!dev || (p.siteIds && !p.siteIds.includes(dev.siteId))) {
      throw new AppError("not_found", "no such device");
    }
    const known = dev.motionAlerts ? await d.motion?.()?.statuses([dev.id]) : undefined;
    const status = known?.get(dev.id) ?? null;
    return c.json({
      deviceId: dev.id,
      motionAlerts: dev.motionAlerts,
      alertQuietSeconds: dev.alertQuietSeconds,
      status,
    });
  });
  // The site page's port pill: mint the handle if needed, then open the device in the proxy.
  app.get("/devices/:id/ports/:port/open", auth, async (c) => {
    const p = c.get("principal");
    const port = Number(c.req.param("port"));
    const dev = await store.getDevice(p.tenantId, c.req.param("id"));
    if (!dev) throw new AppError("not_found", "no such device");
    if (!Number.isInteger(port) || !dev.ports.includes(port)) {
      throw new AppError("not_found", "the device has no such port");
    }
    const { handles } = await withHandles(store, clock, dev, p.actor);
    const url = `/c/${handles[port]}/`;
    if ((c.req.header("accept") ?? "").includes("application/json")) {
      return c.json({ handle: handles[port], url });
    }
    return c.redirect(url, 302);
  });
  app.delete("/devices/:id", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const dev = await store.getDevice(p.tenantId, c.req.param("id"));
    if (!dev || !await store.deleteDevice(p.tenantId, dev.id)) {
      throw new AppError("not_found", "no such device");
    }
    await changed(p, "device.delete", dev.id, dev.siteId);
    return c.json({ removed: dev.id });
  });
  return app;
}

/** What a bulk add did, in words for the console: "2 devices added; 1 skipped: 192.0.2.10 is already on this site". */
export function bulkMessage(created: number, skipped: string[]): string {
  const added = created === 1 ? "1 device added" : `${created} devices added`;
  if (!skipped.length) return added;
  const shown = skipped.slice(0, 3).join(", ") +
    (skipped.length > 3 ? ` and ${skipped.length - 3} more` : "");
  const verb = skipped.length === 1 ? "is" : "are";
  return `${added}; ${skipped.length} skipped: ${shown} ${verb} already on this site`;
}
