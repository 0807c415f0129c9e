/**
 * `PUT/DELETE /api/sites/{id}/devices/{deviceId}/credentials`: the device's own user name and
 * password, held by the cloud so the proxy and the RTSP gateway can answer the device's
 * challenge (admin only). Write-only: stored sealed (tenancy/device_secrets.ts), never returned
 * — device answers say only `hasCredentials`. Setting and removing are audited, never with the
 * secret. `PUT /api/sites/{id}/credentials` gives the same ones to every device of a site that
 * has none (or, with `replace`, to every one; with `only`, to the devices with a port of that
 * protocol): cameras installed with one password, servers with one SSH key, set once.
 * @module
 */
import { Hono } from "hono";
import { protocolOf } from "../store/port_protocols.ts";
import { AppError } from "../../shared/errors.ts";
import type { Store } from "../store/store.ts";
import type { DeviceSecrets } from "../tenancy/device_secrets.ts";
import { requireRole } from "../tenancy/roles.ts";
import type { Principal } from "../tenancy/auth.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { deviceCredentialsBody, siteCredentialsBody } from "./schemas.ts";

/** What the routes need. */
export interface DeviceCredentialDeps {
  store: Store;
  secrets: DeviceSecrets;
}

/** Whether the cloud holds credentials for a device (the only thing any answer says). */
export async function hasCredentials(store: Store, tenantId: string, deviceId: string) {
  return (await store.getDeviceCredentials(tenantId, deviceId)) !== null;
}

/** The routes under /api. */
export function deviceCredentialRoutes(d: DeviceCredentialDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const auth = requireAuth(d.store);
  const device = async (p: Principal, siteId: string, deviceId: string) => {
    requireRole(p.role, "admin");
    const dev = await d.store.getDevice(p.tenantId, deviceId);
    if (!dev || dev.siteId !== siteId) throw new AppError("not_found", "no such device");
    return dev;
  };
  const audit = (p: Principal, action: string, deviceId: string, detail = {}) =>
    d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action,
      target: deviceId,
      detail,
    });

  app.put("/sites/:id/credentials", auth, async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const site = await d.store.getSite(p.tenantId, c.req.param("id"));
    if (!site || (p.siteIds && !p.siteIds.includes(site.id))) {
      throw new AppError("not_found", "no such site");
    }
    const { replace, only, ...creds } = await jsonBody(c, siteCredentialsBody);
    const all = await d.store.listDevices(p.tenantId, site.id);
    const devices = only ? all.filter((x) => x.ports.some((n) => protocolOf(x, n) === only)) : all;
    const held = new Set<string>();
    for (let i = 0; i < devices.length; i += 500) { // a page of ids per query
      const ids = devices.slice(i, i + 500).map((x) => x.id);
      for (const id of (await d.store.listDeviceExtras(p.tenantId, ids)).withCredentials) {
        held.add(id);
      }
    }
    let set = 0;
    for (const dev of devices) {
      if (!replace && held.has(dev.id)) continue;
      const sealed = await d.secrets.seal(p.tenantId, dev.id, creds);
      if (!await d.store.putDeviceCredentials(p.tenantId, dev.id, sealed)) continue; // deleted meanwhile
      await audit(p, "device.credentials.set", dev.id, { site: site.id });
      set++;
    }
    return c.json({
      siteId: site.id,
      set,
      kept: devices.length - set,
      ...(only ? { other: all.length - devices.length } : {}),
    });
  });

  app.put("/sites/:id/devices/:deviceId/credentials", auth, async (c) => {
    const p = c.get("principal");
    const dev = await device(p, c.req.param("id"), c.req.param("deviceId"));
    const body = await jsonBody(c, deviceCredentialsBody);
    const sealed = await d.secrets.seal(p.tenantId, dev.id, body);
    if (!await d.store.putDeviceCredentials(p.tenantId, dev.id, sealed)) {
      throw new AppError("not_found", "no such device");
    }
    await audit(p, "device.credentials.set", dev.id);
    return c.json({ deviceId: dev.id, hasCredentials: true });
  });
  app.delete("/sites/:id/devices/:deviceId/credentials", auth, async (c) => {
    const p = c.get("principal");
    const dev = await device(p, c.req.param("id"), c.req.param("deviceId"));
    const removed = await d.store.deleteDeviceCredentials(p.tenantId, dev.id);
    if (removed) await audit(p, "device.credentials.delete", dev.id);
    return c.json({ deviceId: dev.id, hasCredentials: false, removed });
  });
  return app;
}
