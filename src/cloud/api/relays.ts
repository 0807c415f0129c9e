/**
 * `GET/POST /api/handles/{handle}/relays`: what is wired to a camera's alarm outputs — a gate, a
 * door strike, a siren — worked from its live view (access/onvif_relays.ts). GET answers
 * `{relays: [{token, mode, delaySeconds}]}` (`Monostable` pulses for its delay and goes back by
 * itself, `Bistable` stays); POST `{"token":"AlarmOut_0","state":"active"}` triggers (or switches
 * on) one and `"inactive"` switches it off, answered `{ok, token, state}` and audited as
 * `device.relay` with who did it — a gate opened is a physical act someone answers for. The
 * operator role at least and the handle's own access rules; each call uses the cloud-held
 * credentials (`device.credentials.use` via `relays`). A camera that refuses (an unknown output,
 * no outputs) is a 502 in its words; one without a web port allowlisted, a 501.
 * @module
 */
import { Hono } from "hono";
import { requireRole } from "../tenancy/roles.ts";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { OnvifRelays, type RelayPlace } from "../access/onvif_relays.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { relayBody } from "./schemas.ts";

/** How long the camera has to answer one call. */
const RELAY_DEADLINE_MS = 8_000;

/** The routes under /api. */
export function relayRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const withRelays = onvifRunner<OnvifRelays, RelayPlace>(
    d,
    (http, now) => new OnvifRelays(http, now),
    "relays",
    "its ONVIF device service",
    RELAY_DEADLINE_MS,
  );
  app.get("/handles/:handle/relays", requireAuth(d.store), async (c) => {
    requireRole(c.get("principal").role, "operator");
    const relays = await withRelays(
      askOf(c),
      "list its outputs",
      (camera, place) => camera.list(place),
    );
    return c.json({ relays });
  });
  app.post("/handles/:handle/relays", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    // Before the body: a viewer gets 403, not 400.
    requireRole(p.role, "operator");
    const body = await jsonBody(c, relayBody);
    await withRelays(askOf(c), "switch its output", async (camera, place, deviceId) => {
      await camera.set(place, body.token, body.state);
      await d.store.appendAudit({
        tenantId: p.tenantId,
        actor: p.actor,
        action: "device.relay",
        target: deviceId,
        detail: { handle: c.req.param("handle"), token: body.token, state: body.state },
      });
    });
    return c.json({ ok: true, token: body.token, state: body.state });
  });
  return app;
}
