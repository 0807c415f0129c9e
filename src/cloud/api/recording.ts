/**
 * `POST /api/handles/{handle}/recording`: where a camera's own recording is played from
 * (access/onvif_recording.ts), for the live view's "Recording": answered `{path, from, until}` —
 * the RTSP path that replays it and the first and last pictures it holds (ISO 8601 UTC, null when
 * the camera does not say). The live view then plays `path` from a time
 * (`/api/live/{handle}?path=…&from=…`). Any role that may watch the camera (a viewer too) and the
 * handle's own access rules; the questions use the cloud-held credentials
 * (`device.credentials.use` via `recording`). A camera that keeps no recording over ONVIF is a 502
 * in words; one without a web port allowlisted, a 501.
 * @module
 */
import { Hono } from "hono";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { OnvifRecording, type RecordingPlace } from "../access/onvif_recording.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";

/** How long the camera has to answer. */
const RECORDING_DEADLINE_MS = 15_000;

/** An instant as the API gives it, to the second. */
const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** The routes under /api. */
export function recordingRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  const withRecording = onvifRunner<OnvifRecording, RecordingPlace>(
    d,
    (http, now) => new OnvifRecording(http, now),
    "recording",
    "its recording",
    RECORDING_DEADLINE_MS,
  );
  app.post("/handles/:handle/recording", requireAuth(d.store), async (c) => {
    const r = await withRecording(
      askOf(c),
      "say where its recording is",
      (camera, place) => camera.describe(place),
    );
    return c.json({ path: r.path, from: iso(r.from), until: iso(r.until) });
  });
  return app;
}
