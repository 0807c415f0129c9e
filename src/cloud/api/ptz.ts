/**
 * `POST /api/handles/{handle}/ptz`: pan, tilt and zoom a camera from its live view
 * (access/onvif_ptz.ts) — `{"action":"move","pan":0.5,"tilt":0,"zoom":0}` moves it for at most
 * 2 s unless told again, `{"action":"stop"}` stops it (and, asked first, tells whether the camera
 * can move: the live view shows its pad only then). The operator role at least (a viewer watches,
 * an operator may point the camera elsewhere), and the handle's own access rules. Each call uses
 * the cloud-held credentials, so each is in the audit log as `device.credentials.use` via `ptz`.
 * A camera that cannot is a 502 in its words (no PTZ service, no PTZ profile, credentials refused);
 * a camera without a web port allowlisted, a 501.
 * @module
 */
import { Hono } from "hono";
import { requireRole } from "../tenancy/roles.ts";
import { authorizeHandle } from "../access/route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTargets } from "../access/device_http.ts";
import { AppError } from "../../shared/errors.ts";
import { OnvifError, onvifWithin, overOnvifPorts } from "../access/onvif_soap.ts";
import { OnvifPtz, PtzPlaces } from "../access/onvif_ptz.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { ptzBody } from "./schemas.ts";

/** How long the camera has to answer one PTZ call (a held button repeats each second). */
const PTZ_DEADLINE_MS = 8_000;

/** The routes under /api. */
export function ptzRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const now = () => d.clock.now();
  const places = new PtzPlaces(now);
  app.post("/handles/:handle/ptz", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "operator");
    const body = await jsonBody(c, ptzBody);
    const asked = await authorizeHandle(d, p, c.req.param("handle"));
    const targets = await webTargets(d, p, asked, "its PTZ service");
    try {
      await onvifWithin(
        overOnvifPorts(targets, async (t) => {
          const key = `${t.device.id}:${t.handle.port}`;
          const ptz = new OnvifPtz(new DeviceHttp(d, p, t, "ptz"), now);
          const place = places.get(key) ?? await ptz.locate();
          places.set(key, place);
          try {
            if (body.action === "move") await ptz.move(place, body);
            else await ptz.stop(place);
          } catch (e) {
            places.forget(key);
            throw e;
          }
        }),
        PTZ_DEADLINE_MS,
        "answer",
      );
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
      throw new AppError(
        "camera_refused",
        `the camera did not ${body.action === "move" ? "move" : "stop"} over ONVIF: ${e.message}`,
      );
    }
    return c.json({ ok: true, action: body.action });
  });
  return app;
}
