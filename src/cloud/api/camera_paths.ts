/**
 * `POST /api/handles/{handle}/onvif`: asks the camera, over ONVIF through its tunnel, where its
 * video and its picture are (access/onvif_media.ts), so that the operator does not have to know
 * the vendor's stream path. For a handle on an RTSP port the stream path it gives is remembered
 * for that port, as a path typed into the RTSP pill is (the next RTSP URL, the Live view and the
 * thumbnails use it). The same access rules as the handle's other uses; audited `device.onvif`.
 * @module
 */
import { Hono } from "hono";
import { protocolOf } from "../store/port_protocols.ts";
import { authorizeHandle } from "../access/route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTarget } from "../access/device_http.ts";
import { type MediaPaths, OnvifMedia, onvifRefusal } from "../access/onvif_media.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** The routes under /api. */
export function cameraPathRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.post("/handles/:handle/onvif", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    const asked = await authorizeHandle(d, p, c.req.param("handle"));
    const target = await webTarget(d, p, asked, "its ONVIF service");
    let paths: MediaPaths;
    try {
      paths = await new OnvifMedia(new DeviceHttp(d, p, target, "onvif"), () => d.clock.now())
        .mediaPaths();
    } catch (e) {
      onvifRefusal(e, "where its video is");
    }
    const { handle, device } = asked;
    const rtsp = protocolOf(device, handle.port) === "rtsp";
    const remember = rtsp && paths.streamPath !== null &&
      device.streamPaths[handle.port] !== paths.streamPath;
    if (remember) {
      await d.store.updateDevice(handle.tenantId, device.id, {
        streamPaths: { [handle.port]: paths.streamPath! },
      });
    }
    await d.store.appendAudit({
      tenantId: handle.tenantId,
      actor: p.actor,
      action: "device.onvif",
      target: handle.id,
      detail: { ...paths, remembered: remember },
    });
    return c.json({ ...paths, remembered: rtsp && paths.streamPath !== null });
  });
  return app;
}
