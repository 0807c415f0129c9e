/**
 * The RTSP section: N concurrent streams of a real RTSP camera (GStreamer's RTSP server, the
 * test fixture `tests/_fixtures/rtsp_server.py`) read and decoded by ffmpeg over RTSP/TCP —
 * directly, through `ssh -R`, and through the cloud's RTSP gateway
 * (`rtsp://anyone:nt_…@127.0.0.1:<rtsp port>/{handle}/live/cam1`). Decode errors are the lines
 * ffmpeg prints at `-v error`. When the camera fixture or the cloud's RTSP listener is missing,
 * the section says so and is skipped.
 * @module
 */

const SERVER = new URL("../tests/_fixtures/rtsp_server.py", import.meta.url).pathname;
/** The camera's stream path (fixed by the fixture). */
export const CAMERA_PATH = "live/cam1";

/** A running camera. */
export interface Camera {
  port: number;
  close(): Promise<void>;
}

/** Starts the camera fixture, or says why it is not available. */
export async function startCamera(
  extra: string[] = [],
): Promise<Camera | { unavailable: string }> {
  try {
    await Deno.stat(SERVER);
  } catch {
    return { unavailable: "tests/_fixtures/rtsp_server.py is not on this branch" };
  }
  const child = new Deno.Command("/usr/bin/python3", {
    args: [SERVER, ...extra],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  while (!/listening \d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  clearTimeout(timer);
  reader.cancel().catch(() => {});
  const m = /listening (\d+)/.exec(out);
  if (!m) {
    const err = await new Response(child.stderr).text().catch(() => "");
    return { unavailable: `rtsp_server.py did not start: ${err.trim().split("\n").pop()}` };
  }
  child.stderr.cancel().catch(() => {});
  return {
    port: Number(m[1]),
    async close() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

/** What N concurrent ffmpeg readers of one URL saw. */
export interface RtspResult {
  streams: number;
  /** Readers that exited cleanly having decoded frames. */
  ok: number;
  frames: number;
  decodeErrors: number;
  /** Lines from the output side (the null muxer), e.g. non-monotonic timestamps. */
  muxerWarnings: number;
  /** The first error line, for the report. */
  sample: string | null;
}

const MUXER_LINE = /^\[null @ /;

/** Reads `url` with `streams` concurrent ffmpeg decoders for `seconds`. */
export async function readStreams(
  url: string,
  streams: number,
  seconds: number,
): Promise<RtspResult> {
  const one = async () => {
    const out = await new Deno.Command("ffmpeg", {
      args: [
        "-nostdin",
        "-v",
        "error",
        "-timeout",
        "15000000",
        "-rtsp_transport",
        "tcp",
        "-i",
        url,
        "-t",
        String(seconds),
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-nostats",
        "-",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const progress = new TextDecoder().decode(out.stdout);
    const frames = Number([...progress.matchAll(/frame=(\d+)/g)].pop()?.[1] ?? 0);
    const lines = new TextDecoder().decode(out.stderr).split("\n").filter((l) => l.trim());
    // The null muxer's complaints about timestamps are not decode errors.
    const errors = lines.filter((l) => !MUXER_LINE.test(l));
    const warnings = lines.length - errors.length;
    return { ok: out.success && frames > 0, frames, errors, warnings };
  };
  const all = await Promise.all(Array.from({ length: streams }, one));
  const errs = all.flatMap((r) => r.errors);
  return {
    streams,
    ok: all.filter((r) => r.ok).length,
    frames: all.reduce((s, r) => s + r.frames, 0),
    decodeErrors: errs.length,
    muxerWarnings: all.reduce((s, r) => s + r.warnings, 0),
    sample: errs[0] ?? null,
  };
}
