/**
 * `GET /api/live/{handle}/clip.mp4?path=<replay path>&from=<instant>&seconds=N`: a stretch of a
 * camera's own recording saved as one MP4 file — what the police or an insurer is sent, without
 * the camera's web page, the vendor's app or a screen recorder. The cloud plays the recording from
 * `from` in a camera session of its own (live_ws.ts `prepareLive`, alone: never joined to a
 * viewer's session at another picture), with the same access rules and cloud-held credentials as
 * the live view, and writes what the live view receives — the init segment and each picture's
 * fragment — into the response until `seconds` of pictures have passed: a fragmented MP4 every
 * player opens (VLC, a browser, ffmpeg). The camera is asked to send as fast as it can (ONVIF
 * `Rate-Control: no`): one that does saves ten minutes in seconds, paced by the client (past
 * {@link CLIP_HOLD_BYTES} unread, the cloud stops reading the camera's connection until fewer
 * wait, so a slow link holds the camera, not the cloud's memory); one that does not
 * sends in real time, so a minute takes about a minute. Audited `live.clip` (who saved what, from
 * when, how long, and `fast`: whether the camera sent faster than it plays), and cut like a live
 * view when its credential is revoked. A recording that ends sooner is a shorter file; the
 * download fails (rather than hide a gap) when the camera gave no picture, its credential is
 * revoked, the client takes nothing for {@link CLIP_STALL_MS}, or it reads far slower than a
 * camera that sends in real time.
 *
 * `GET /api/live/{handle}/record.mp4?path=<stream path>&seconds=N`: the next N seconds of the live
 * picture as the same kind of file, for a camera that keeps no recording of its own (or one not
 * reachable over ONVIF): the viewers' camera session joined (a camera keeps few sessions), from its
 * last keyframe, so the file starts on a whole picture up to a keyframe interval before the
 * press. Real time, never held (other viewers share the session); audited `live.clip` with
 * `live: true`; a `from` or `speed` is refused (a recording's stretch is `clip.mp4`).
 * @module
 */
import { type Context, Hono } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import { liveQuery, type LiveViewDeps, type PreparedLive, prepareLive } from "../access/live_ws.ts";
import { authorizeTunnel } from "../access/tunnel_ws.ts";
import type { RouteDeps } from "../access/route.ts";
import type { Viewer } from "../live/hub.ts";
import { TIMESCALE } from "../live/fmp4.ts";
import { issueMessage } from "./validate.ts";

/** The longest clip, in seconds. */
export const CLIP_MAX_S = 600;
/** Bytes a clip may hold unread by its client before it is given up. */
export const CLIP_BACKLOG_BYTES = 32 << 20;
/** Bytes unread by the client past which a camera that sends fast is held until fewer wait. */
export const CLIP_HOLD_BYTES = 1 << 20;
/** A held clip whose client takes nothing for this long is given up (ms). */
export const CLIP_STALL_MS = 60_000;

/** The query: the live view's (its replay path, `from` required) and how many seconds. */
export const clipQuery = liveQuery.extend({
  // A clip is saved as fast as the camera sends it; a `speed` would only slow it down.
  speed: z.undefined({
    error: "speed: a clip is saved as fast as the camera sends it; speed is for playing",
  }).optional(),
  from: z.string({ error: "from: the instant the clip starts at, as 2026-12-06T03:00:00Z" })
    .pipe(liveQuery.shape.from.unwrap()),
  seconds: z.coerce.number({ error: `seconds: a whole number from 1 to ${CLIP_MAX_S}` }).int(
    `seconds: a whole number from 1 to ${CLIP_MAX_S}`,
  ).min(1, `seconds: a whole number from 1 to ${CLIP_MAX_S}`)
    .max(CLIP_MAX_S, `seconds: a whole number from 1 to ${CLIP_MAX_S}`).default(60),
});

/** A file name of printable, harmless characters: `Gate camera-554` → `Gate-camera-554-…`. */
function fileName(label: string, from: number, seconds: number): string {
  const name = label.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 48) ||
    "camera";
  const at = new Date(from).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${name}-${at}-${seconds}s.mp4`;
}

/** The query of a clip of the live picture: its stream path and how many seconds. */
export const liveClipQuery = liveQuery.extend({
  from: z.undefined({
    error:
      "from: record.mp4 saves the live picture from now; a stretch of the camera's recording is clip.mp4",
  }).optional(),
  speed: z.undefined({
    error: "speed: record.mp4 saves the live picture as it happens; speed is for a recording",
  }).optional(),
  seconds: clipQuery.shape.seconds,
});

/** The routes, with what the live view needs. */
export function clipRoutes(d: RouteDeps & LiveViewDeps, remoteOf: (c: unknown) => string): Hono {
  const app = new Hono();
  // A query refused only after who asks may watch the camera: 401 and 403 come first.
  const ask = async <T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> => {
    const q = schema.safeParse(c.req.query());
    if (q.success) return q.data;
    await authorizeTunnel(d, c.req.raw, c.req.param("handle") ?? "", remoteOf(c));
    throw new AppError("bad_request", issueMessage(q.error.issues));
  };
  app.get("/api/live/:handle/clip.mp4", async (c) => {
    const q = await ask(c, clipQuery);
    const p = await prepareLive(d, c.req.raw, c.req.param("handle"), remoteOf(c), { alone: true });
    return await serveClip(c, d, p, q.seconds, q.from);
  });
  // The next seconds of the live picture: the viewers' camera session joined (a camera keeps
  // few sessions), from its last keyframe.
  app.get("/api/live/:handle/record.mp4", async (c) => {
    const q = await ask(c, liveClipQuery);
    const p = await prepareLive(d, c.req.raw, c.req.param("handle"), remoteOf(c));
    return await serveClip(c, d, p, q.seconds);
  });
  return app;
}

/**
 * Answers with the clip of `p`'s camera session: `seconds` of pictures from the recording's
 * instant `from`, or (without it) of the live picture from its last keyframe.
 */
async function serveClip(
  c: Context,
  d: RouteDeps & LiveViewDeps,
  p: PreparedLive,
  seconds: number,
  from?: number,
): Promise<Response> {
  const live = from === undefined;
  const started = d.clock.now();
  await d.store.appendAudit({
    tenantId: p.target.handle.tenantId,
    actor: p.principal.actor,
    action: "live.clip",
    target: p.target.handle.id,
    detail: {
      device: p.target.device.id,
      port: p.target.handle.port,
      via: p.principal.kind,
      stream: p.path,
      ...(live
        ? { live: true }
        : { recordingFrom: new Date(from).toISOString(), fast: p.feed.fast }),
      seconds,
      remote: p.client,
      ...(p.principal.auditUser ? { user: p.principal.auditUser } : {}),
    },
  }).catch((e) => {
    p.feed.release();
    throw e;
  });
  let viewer: Viewer | null = null;
  let unlive: (() => void) | undefined;
  let done = false;
  // The camera's connection is held while the client has much unread: until it reads it all.
  let held:
    | { promise: Promise<void>; resume: () => void; stall: ReturnType<typeof setTimeout> }
    | null = null;
  const resume = () => {
    if (!held) return;
    clearTimeout(held.stall);
    held.resume();
    held = null;
  };
  const end = (ctrl: ReadableStreamDefaultController<Uint8Array>, error?: string) => {
    if (done) return;
    done = true;
    // A held read goes on, finds the session closed and ends.
    resume();
    unlive?.();
    if (viewer) p.feed.detach(viewer);
    if (error) ctrl.error(new Error(error));
    else ctrl.close();
    d.log.info(
      {
        handle: p.target.handle.id,
        seconds,
        fast: p.feed.fast,
        ms: d.clock.now() - started,
        error,
      },
      "clip saved",
    );
  };
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      let first: number | null = null;
      viewer = {
        init: (i) => ctrl.enqueue(i.bytes),
        send: (s) => {
          if (done) return;
          first ??= s.decodeTime;
          // The clip ends by its pictures; sound past its end is left out. A camera may send a
          // recording's sound ahead of its pictures: it must not end the clip early.
          if (s.decodeTime - first >= seconds * TIMESCALE) return s.audio ? undefined : end(ctrl);
          ctrl.enqueue(s.bytes);
          // A client far slower than the camera: give up rather than hold the clip in memory.
          if (CLIP_HOLD_BYTES - (ctrl.desiredSize ?? 0) > CLIP_BACKLOG_BYTES) {
            end(ctrl, "the download is far slower than the camera sends");
          }
        },
        // Never skip a picture to catch up: a clip is all of them or an error.
        buffered: () => 0,
        // A recording's clip, alone on its session, holds the camera while its client is behind;
        // the live picture's, on the viewers' session, never does (it fails when far behind).
        hold: () => {
          if (live || done || (ctrl.desiredSize ?? 0) > 0) return null;
          if (held) return held.promise;
          const w = Promise.withResolvers<void>();
          held = {
            promise: w.promise,
            resume: w.resolve,
            stall: setTimeout(
              () => end(ctrl, `the download took nothing for ${CLIP_STALL_MS / 1000} s`),
              CLIP_STALL_MS,
            ),
          };
          return w.promise;
        },
        // The camera's session ended: a recording that ends sooner is a shorter file; one
        // that gave no picture at all, an error.
        close: (reason) => end(ctrl, first === null ? reason : undefined),
      };
      unlive = d.live?.add(p.principal, (reason) => end(ctrl, reason), {
        kind: live ? "live clip" : "recording clip",
        handleId: p.target.handle.id,
        startedAt: started,
      });
      p.feed.attach(viewer);
    },
    // The client took enough that less than CLIP_HOLD_BYTES waits: a held camera sends on.
    pull() {
      resume();
    },
    cancel() {
      done = true;
      resume();
      unlive?.();
      if (viewer) p.feed.detach(viewer);
    },
  }, new ByteLengthQueuingStrategy({ highWaterMark: CLIP_HOLD_BYTES }));
  return c.body(body, 200, {
    "content-type": "video/mp4",
    "content-disposition": `attachment; filename="${
      fileName(
        `${p.target.device.label || p.target.device.host}-${p.target.handle.port}`,
        from ?? started,
        seconds,
      )
    }"`,
    "cache-control": "no-store",
  });
}
