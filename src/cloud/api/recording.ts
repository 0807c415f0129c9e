/**
 * `POST /api/handles/{handle}/recording` (`{recording?}`, the body may be left out): where a
 * camera's own recording is played from (access/onvif_recording.ts), for the live view's
 * "Recording": answered `{path, from, until, recording, recordings}` — the RTSP path that replays
 * it, the first and last pictures it holds (ISO 8601 UTC, null when the camera does not say), its
 * token, and every recording the camera keeps (`[{token, name}]`: an NVR keeps one per channel),
 * of which `recording` chooses (by default the first; one the camera does not list is a 400). The
 * live view then plays `path` from a time (`/api/live/{handle}?path=…&from=…`). Any role that may
 * watch the camera (a viewer too) and the handle's own access rules; the questions use the
 * cloud-held credentials (`device.credentials.use` via `recording`). A camera that keeps no
 * recording over ONVIF is a 502 in words; one without a web port allowlisted, a 501.
 *
 * `POST /api/handles/{handle}/recording/events` `{from, until?, recording?}` asks the camera's
 * search service what its recording (by default the first) holds in that time
 * (access/onvif_recording_events.ts): answered `{events: [{at, type, what, input?}], next}` —
 * motion, tampering and alarm inputs starting, oldest first, at most 50, in the Events page's
 * words — and `next`, the `from` of the search that goes on when this one stopped short (null: it
 * covered the whole time).
 * @module
 */
import { Hono } from "hono";
import type { DeviceHttpDeps } from "../access/device_http.ts";
import { OnvifRecording, type RecordingPlace } from "../access/onvif_recording.ts";
import { askOf, onvifRunner } from "./onvif_runner.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody, optionalJsonBody } from "./validate.ts";
import { AppError } from "../../shared/errors.ts";
import { recordingBody, recordingEventsBody } from "./schemas.ts";
import { EVENT_LABELS } from "../events/labels.ts";

/** How long the camera has to answer. */
const RECORDING_DEADLINE_MS = 15_000;

/** How long a search of the recording reads the camera's results. */
const SEARCH_BUDGET_MS = 10_000;
/** How long the camera has to answer a search: its budget, and the questions before and after. */
const SEARCH_DEADLINE_MS = 25_000;

/** The refusal of a recording the camera does not list. */
const noSuchRecording = (token: string) =>
  new AppError("bad_request", `recording: the camera keeps no recording "${token}"`);

/** An instant as the API gives it, to the second. */
const iso = (ms: number | null) =>
  ms === null ? null : new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** The routes under /api. */
export function recordingRoutes(d: DeviceHttpDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  // The recording's questions within `deadlineMs`, each runner keeping where its services are.
  const runner = (deadlineMs: number) =>
    onvifRunner<OnvifRecording, RecordingPlace>(
      d,
      (http, now) => new OnvifRecording(http, now),
      "recording",
      "its recording",
      deadlineMs,
    );
  const withRecording = runner(RECORDING_DEADLINE_MS);
  app.post("/handles/:handle/recording", requireAuth(d.store), async (c) => {
    const body = await optionalJsonBody(c, recordingBody);
    const r = await withRecording(
      askOf(c),
      "say where its recording is",
      (camera, place) => camera.describe(place, body.recording),
    );
    if (!r) throw noSuchRecording(body.recording!);
    return c.json({
      path: r.path,
      from: iso(r.from),
      until: iso(r.until),
      recording: r.token,
      recordings: r.recordings,
    });
  });
  const withSearch = runner(SEARCH_DEADLINE_MS);
  app.post("/handles/:handle/recording/events", requireAuth(d.store), async (c) => {
    const body = await jsonBody(c, recordingEventsBody);
    const until = Math.min(body.until ?? Infinity, d.clock.now());
    if (until <= body.from) throw new AppError("bad_request", "from: an instant already past");
    const found = await withSearch(askOf(c), "search its recording", (camera, place) => {
      const token = body.recording ?? place.recordings[0].token;
      if (!place.recordings.some((r) => r.token === token)) throw noSuchRecording(token);
      return camera.findEvents(place, token, body.from, until, SEARCH_BUDGET_MS);
    });
    return c.json({
      events: found.events.map((e) => ({
        at: new Date(e.at).toISOString(),
        type: e.type,
        what: EVENT_LABELS[e.type] + (e.input ? ` (${e.input})` : ""),
        ...(e.input ? { input: e.input } : {}),
      })),
      next: found.next === null ? null : new Date(found.next).toISOString(),
    });
  });
  return app;
}
