/**
 * `POST /api/handles/{handle}/reboot`: restart a camera over ONVIF (access/onvif_reboot.ts), from
 * its live view or a script, when its picture froze or its web server hangs. No body. Answered
 * `{ok: true, message}` with what the camera said ("Rebooting in 30 seconds"; "" when it said
 * nothing); its stream and recording stop until it is back, so it is audited as `device.reboot`
 * with who asked and what the camera said. The operator role at least (a viewer watches) and the
 * handle's own access rules; the call uses the cloud-held credentials (`device.credentials.use`
 * via `reboot`). A camera that refuses is a 502 in its words; one without a web port
 * allowlisted, a 501.
 * @module
 */
import { Hono } from "hono";
import { requireRole } from "../tenancy/roles.ts";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { OnvifReboot, type RebootPlace } from "../access/onvif_reboot.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** How long the camera has to take the restart. */
const REBOOT_DEADLINE_MS = 15_000;

/** The routes under /api. */
export function rebootRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const withCamera = onvifRunner<OnvifReboot, RebootPlace>(
    d,
    (http, now) => new OnvifReboot(http, now),
    "reboot",
    "its ONVIF device service",
    REBOOT_DEADLINE_MS,
  );
  app.post("/handles/:handle/reboot", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "operator");
    const message = await withCamera(askOf(c), "restart", async (camera, place, deviceId) => {
      const said = await camera.reboot(place);
      await d.store.appendAudit({
        tenantId: p.tenantId,
        actor: p.actor,
        action: "device.reboot",
        target: deviceId,
        detail: { handle: c.req.param("handle"), message: said },
      });
      return said;
    });
    return c.json({ ok: true, message });
  });
  return app;
}
