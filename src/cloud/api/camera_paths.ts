/**
 * Asking cameras, over ONVIF through their tunnels, where their video and picture are
 * (access/onvif_media.ts), so that an operator does not have to know each vendor's stream path:
 * `POST /api/handles/{handle}/onvif` asks one camera; `POST /api/sites/{id}/onvif` asks every
 * RTSP port of a site whose stream path or sub-stream path is not known yet (a site just filled by
 * discovery), a few cameras at a time, each within its own deadline. A stream path a camera gives
 * is remembered for its RTSP port, as a path typed into the RTSP pill is (the next RTSP URL and the
 * Live view use it); its second profile's, the sub-stream, is remembered as the port's grid stream
 * (the live grid and the thumbnails play it), or the main one when the camera has no second.
 * What the camera says it is (`GetDeviceInformation`: maker, model, firmware version) is kept on
 * the device, so old firmware is found by a search. The same access rules as the handle's other
 * uses (the site's: admin); each ask audited `device.onvif`.
 * @module
 */
import { Hono } from "hono";
import type { Principal } from "../tenancy/auth.ts";
import { requireRole } from "../tenancy/roles.ts";
import { protocolOf } from "../store/port_protocols.ts";
import { authorizeHandle } from "../access/route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTargets } from "../access/device_http.ts";
import { askOverPorts, type MediaPaths, onvifRefusal } from "../access/onvif_media.ts";
import { onvifWithin } from "../access/onvif_soap.ts";
import type { DeviceIdentity } from "../access/onvif_identity.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { askSiteCameras } from "./site_cameras.ts";

/** Cameras asked at once by one site-wide ask. */
const PARALLEL = 4;
/** RTSP ports asked by one site-wide ask; the answer says how many are left for the next. */
export const SITE_ASK_MAX = 64;
/** How long one camera has to tell. */
const CAMERA_DEADLINE_MS = 20_000;

/** What one camera told, and whether its stream path is now remembered for the handle's port. */
type Told = MediaPaths & { remembered: boolean };

/** Asks the camera behind `handleId`; remembers the stream path for an RTSP handle. */
async function askCamera(d: DeviceHttpDeps, p: Principal, handleId: string): Promise<Told> {
  const asked = await authorizeHandle(d, p, handleId);
  const targets = await webTargets(d, p, asked, "its ONVIF service");
  const paths = await askOverPorts(
    targets,
    (t) => new DeviceHttp(d, p, t, "onvif"),
    () => d.clock.now(),
  );
  const { handle, device } = asked;
  const port = handle.port;
  const rtsp = protocolOf(device, port) === "rtsp";
  const change = rtsp && paths.streamPath !== null && device.streamPaths[port] !== paths.streamPath;
  // The grid's stream: the camera's sub-stream, or its main one when it has a single profile (so
  // that a site-wide ask does not ask it again).
  const grid = paths.subStreamPath ?? paths.streamPath;
  const gridChange = rtsp && grid !== null && device.subStreamPaths[port] !== grid;
  // What the camera says it is, over what discovery or a person wrote, where it says it.
  const identity: Partial<DeviceIdentity> = {};
  for (const k of ["manufacturer", "model", "firmware"] as const) {
    const said = paths.identity?.[k];
    if (said && said !== device[k]) identity[k] = said;
  }
  if (change || gridChange || Object.keys(identity).length) {
    await d.store.updateDevice(handle.tenantId, device.id, {
      ...(change ? { streamPaths: { [port]: paths.streamPath! } } : {}),
      ...(gridChange ? { subStreamPaths: { [port]: grid! } } : {}),
      ...identity,
    });
  }
  await d.store.appendAudit({
    tenantId: handle.tenantId,
    actor: p.actor,
    action: "device.onvif",
    target: handle.id,
    detail: { ...paths, remembered: change || gridChange },
  });
  return { ...paths, remembered: rtsp && paths.streamPath !== null };
}

/** The routes under /api. */
export function cameraPathRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.post("/handles/:handle/onvif", requireAuth(d.store), async (c) => {
    try {
      return c.json(await askCamera(d, c.get("principal"), c.req.param("handle")));
    } catch (e) {
      onvifRefusal(e, "where its video is");
    }
  });
  app.post("/sites/:id/onvif", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const asked = await askSiteCameras(
      d.store,
      p,
      c.req.param("id"),
      // Each RTSP port whose stream path or sub-stream is not known yet.
      (dev) =>
        dev.ports.filter((port) =>
          protocolOf(dev, port) === "rtsp" && !(dev.streamPaths[port] && dev.subStreamPaths[port])
        ),
      async (
        handleId,
      ): Promise<{ streamPath?: string; subStreamPath?: string; error?: string }> => {
        const told = await onvifWithin(askCamera(d, p, handleId), CAMERA_DEADLINE_MS, "answer");
        return {
          ...(told.streamPath
            ? { streamPath: told.streamPath }
            : { error: "the camera answered but gave no stream path" }),
          ...(told.subStreamPath ? { subStreamPath: told.subStreamPath } : {}),
        };
      },
      { max: SITE_ASK_MAX, parallel: PARALLEL },
    );
    return c.json({
      asked: asked.items.length,
      found: asked.items.filter((i) => i.streamPath).length,
      remaining: asked.remaining,
      items: asked.items,
    });
  });
  return app;
}
