/**
 * `POST /api/handles/{handle}/clock`: a camera's clock (access/onvif_clock.ts) —
 * `{"action":"read"}` says how far off it is, `{"action":"set"}` sets it to the cloud's time
 * (audited as `device.clock_set`: it changes the camera, and its recordings' times from then
 * on). Both answer `{ok, action, clock: {time, offsetSeconds, off, keptBy, timeZone}}` — the
 * camera's time (ISO 8601 UTC, to the second), its offset from the cloud's (negative: behind),
 * whether that is more than 5 s, how it keeps time (`NTP`, `Manual`) and its time zone. The
 * operator role at least and the handle's own access rules; setting uses the cloud-held
 * credentials (`device.credentials.use` via `clock`). A camera that refuses is a 502 in its
 * words; one without a web port allowlisted, a 501.
 *
 * `POST /api/sites/{id}/clocks` (admin) does it for a site's cameras at once — an installer's
 * one press after mounting them on a LAN without NTP: each camera (by its first RTSP port) is
 * read, and set when more than 5 s off; four at a time, at most 64 a request (`?offset=` pages on:
 * the answer's `next`, null after the last). Answered `{asked, set, failed, remaining, next,
 * items: [{deviceId, host, label, port, offsetSeconds, set} or {…, error}]}`.
 * @module
 */
import { Hono } from "hono";
import { OnvifPlaces } from "../access/onvif_places.ts";
import { requireRole } from "../tenancy/roles.ts";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { type CameraClock, CLOCK_OFF_MS, OnvifClock } from "../access/onvif_clock.ts";
import { askOf, type OnvifAsk, onvifRunner } from "./onvif_runner.ts";
import { protocolOf } from "../store/port_protocols.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { askSiteCameras } from "./site_cameras.ts";
import { jsonBody, query } from "./validate.ts";
import { clockBody, siteClocksQuery } from "./schemas.ts";

/** Cameras asked at once by the site-wide setting. */
const PARALLEL = 4;
/** Cameras one site-wide press asks; the answer says how many are left for the next. */
export const SITE_CLOCKS_MAX = 64;
/** How long the camera has to answer (setting is three calls). */
const CLOCK_DEADLINE_MS = 15_000;

/** A camera's clock as the API answers it. */
function clockJson(c: CameraClock) {
  return {
    time: new Date(c.time).toISOString().replace(/\.\d+Z$/, "Z"),
    offsetSeconds: Math.round(c.offsetMs / 1000),
    off: Math.abs(c.offsetMs) > CLOCK_OFF_MS,
    keptBy: c.keptBy,
    timeZone: c.timeZone,
  };
}

/** The routes under /api. */
export function cameraClockRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const withClock = onvifRunner<OnvifClock, null>(
    d,
    (http, now) => new OnvifClock(http, now),
    "clock",
    "its ONVIF device service",
    CLOCK_DEADLINE_MS,
  );
  /** Sets the camera's clock, audited with its offsets before and after: its clock after. */
  const setClock = (ask: OnvifAsk) =>
    withClock(ask, "set its clock", async (camera, _place, deviceId) => {
      const { before, after } = await camera.set();
      // Every control's place keeps the old skew: the next PTZ, focus or restart asks afresh.
      OnvifPlaces.forgetCamera(deviceId);
      await d.store.appendAudit({
        tenantId: ask.principal.tenantId,
        actor: ask.principal.actor,
        action: "device.clock_set",
        target: deviceId,
        detail: {
          handle: ask.handle,
          offsetSecondsBefore: Math.round(before.offsetMs / 1000),
          offsetSecondsAfter: Math.round(after.offsetMs / 1000),
        },
      });
      return after;
    });
  app.post("/handles/:handle/clock", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    // Before the body: a viewer gets 403, not 400.
    requireRole(p.role, "operator");
    const body = await jsonBody(c, clockBody);
    if (body.action === "read") {
      const clock = await withClock(askOf(c), "say its time", (camera) => camera.read());
      return c.json({ ok: true, action: body.action, clock: clockJson(clock) });
    }
    const after = await setClock(askOf(c));
    return c.json({ ok: true, action: body.action, clock: clockJson(after) });
  });
  app.post("/sites/:id/clocks", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const { offset } = query(c, siteClocksQuery);
    const asked = await askSiteCameras(
      d.store,
      p,
      c.req.param("id"),
      // Each camera once, by its first RTSP port.
      (dev) => dev.ports.filter((x) => protocolOf(dev, x) === "rtsp").slice(0, 1),
      async (handle) => {
        const ask = { principal: p, handle };
        const clock = await withClock(ask, "say its time", (camera) => camera.read());
        const off = Math.abs(clock.offsetMs) > CLOCK_OFF_MS;
        if (off) await setClock(ask);
        return { offsetSeconds: Math.round(clock.offsetMs / 1000), set: off };
      },
      { max: SITE_CLOCKS_MAX, parallel: PARALLEL, offset },
    );
    return c.json({
      asked: asked.items.length,
      set: asked.items.filter((i) => i.set).length,
      failed: asked.items.filter((i) => i.error).length,
      remaining: asked.remaining,
      next: asked.next,
      items: asked.items,
    });
  });
  return app;
}
