/**
 * `POST /api/handles/{handle}/focus`: focus a camera's motorised lens from its live view
 * (access/onvif_focus.ts) — `{"action":"ask"}` tells whether the camera can (the live view shows
 * its buttons only then) and the mode it is in (`{mode: "AUTO" | "MANUAL" | null}`),
 * `{"action":"nudge","speed":-0.5}` moves the focus nearer (− ) or farther (+) for a moment and
 * stops it (the cloud sends the stop, so no lens runs on when a browser goes), and
 * `{"action":"auto"}` sets the camera to focus by itself, audited as `device.focus_auto` (it
 * changes the camera's settings). The operator role at least (a viewer watches) and the handle's
 * own access rules; each call uses the cloud-held credentials, in the audit log as
 * `device.credentials.use` via `focus`. A camera that cannot is a 502 in its words (no imaging
 * service, only set focus positions, credentials refused); one without a web port allowlisted, a
 * 501.
 * @module
 */
import { Hono } from "hono";
import { requireRole } from "../tenancy/roles.ts";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { type FocusPlace, OnvifFocus } from "../access/onvif_focus.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { focusBody } from "./schemas.ts";

/** How long the camera has to answer one focus call (a nudge is two calls and a pause). */
const FOCUS_DEADLINE_MS = 8_000;

/** The routes under /api. */
export function focusRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const withFocus = onvifRunner<OnvifFocus, FocusPlace>(
    d,
    (http, now) => new OnvifFocus(http, now),
    "focus",
    "its imaging service",
    FOCUS_DEADLINE_MS,
  );
  app.post("/handles/:handle/focus", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    // Before the body: a viewer gets 403, not 400.
    requireRole(p.role, "operator");
    const body = await jsonBody(c, focusBody);
    switch (body.action) {
      case "ask": {
        const mode = await withFocus(askOf(c), "say how it focuses", (f, place) => f.mode(place));
        return c.json({ ok: true, action: body.action, mode });
      }
      case "nudge":
        await withFocus(askOf(c), "focus", (f, place) => f.nudge(place, body.speed));
        break;
      case "auto":
        await withFocus(askOf(c), "switch to auto focus", async (f, place, deviceId) => {
          await f.auto(place);
          await d.store.appendAudit({
            tenantId: p.tenantId,
            actor: p.actor,
            action: "device.focus_auto",
            target: deviceId,
            detail: { handle: c.req.param("handle") },
          });
        });
        break;
    }
    return c.json({ ok: true, action: body.action });
  });
  return app;
}
