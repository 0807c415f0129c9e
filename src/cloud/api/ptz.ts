/**
 * `POST /api/handles/{handle}/ptz`: pan, tilt and zoom a camera from its live view
 * (access/onvif_ptz.ts) — `{"action":"move","pan":0.5,"tilt":0,"zoom":0}` moves it for at most
 * 2 s unless told again, `{"action":"stop"}` stops it (and, asked first, tells whether the camera
 * can move: the live view shows its pad only then), `{"action":"preset","preset":"1"}` sends it to
 * a position it keeps; `GET /api/handles/{handle}/ptz/presets` lists those (`{presets: [{token,
 * name}]}`); `{"action":"save","name":"Gate"}` keeps where it points now as "Gate" (over the one of
 * that name; answered with `preset: {token, name, replaced}`) and `{"action":"remove","preset":"4"}`
 * forgets one, each audited (`device.ptz_preset_save`, `device.ptz_preset_remove`). The operator
 * role at least (a viewer watches, an operator may point the camera elsewhere), and the handle's
 * own access rules. Each call uses
 * the cloud-held credentials, so each is in the audit log as `device.credentials.use` via `ptz`.
 * A camera that cannot is a 502 in its words (no PTZ service, no PTZ profile, credentials refused);
 * a camera without a web port allowlisted, a 501.
 * @module
 */
import { Hono } from "hono";
import { requireRole } from "../tenancy/roles.ts";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { OnvifPtz, type PtzPlace } from "../access/onvif_ptz.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { ptzBody } from "./schemas.ts";

/** How long the camera has to answer one PTZ call (a held button repeats each second). */
const PTZ_DEADLINE_MS = 8_000;

/** The routes under /api. */
export function ptzRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  /**
   * Runs `fn` with the camera's PTZ place over the handle's web ports; 502 in its words. The
   * caller has checked the operator role (before reading a body: a viewer gets 403, not 400).
   */
  const withPtz = onvifRunner<OnvifPtz, PtzPlace>(
    d,
    (http, now) => new OnvifPtz(http, now),
    "ptz",
    "its PTZ service",
    PTZ_DEADLINE_MS,
  );
  app.post("/handles/:handle/ptz", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "operator");
    const body = await jsonBody(c, ptzBody);
    /** A preset saved or removed changes the camera: who did it is in the audit log. */
    const audit = (deviceId: string, action: string, detail: Record<string, unknown>) =>
      d.store.appendAudit({
        tenantId: p.tenantId,
        actor: p.actor,
        action,
        target: deviceId,
        detail: { handle: c.req.param("handle"), ...detail },
      });
    switch (body.action) {
      case "move":
        await withPtz(askOf(c), "move", (ptz, place) => ptz.move(place, body));
        break;
      case "stop":
        await withPtz(askOf(c), "stop", (ptz, place) => ptz.stop(place));
        break;
      case "preset":
        await withPtz(
          askOf(c),
          "go to its preset",
          (ptz, place) => ptz.gotoPreset(place, body.preset),
        );
        break;
      case "save": {
        const saved = await withPtz(askOf(c), "save the preset", async (ptz, place, deviceId) => {
          const s = await ptz.savePreset(place, body.name);
          await audit(deviceId, "device.ptz_preset_save", { ...s });
          return s;
        });
        return c.json({ ok: true, action: body.action, preset: saved });
      }
      case "remove":
        await withPtz(askOf(c), "remove the preset", async (ptz, place, deviceId) => {
          await ptz.removePreset(place, body.preset);
          await audit(deviceId, "device.ptz_preset_remove", { token: body.preset });
        });
        break;
    }
    return c.json({ ok: true, action: body.action });
  });
  app.get("/handles/:handle/ptz/presets", requireAuth(d.store), async (c) => {
    requireRole(c.get("principal").role, "operator");
    const presets = await withPtz(askOf(c), "list its presets", (ptz, place) => ptz.presets(place));
    return c.json({ presets });
  });
  return app;
}
