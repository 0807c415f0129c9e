/**
 * The RTSP section: N concurrent clients of one real RTSP camera at 2 Mbit/s (GStreamer's RTSP
 * server, the test fixture `tests/_fixtures/rtsp_server.py`, 320×240 of an incompressible pattern,
 * one shared encode) over RTSP with RTP interleaved on TCP — directly, through `ssh -R`, and
 * through the cloud's RTSP gateway (`rtsp://anyone:nt_…@127.0.0.1:<rtsp port>/{handle}/live/cam1`).
 * Two cores cannot decode a hundred 2 Mbit/s H.264 streams beside the product, so most clients
 * are light players (rtsp_player.ts) that check every RTP packet's sequence and H.264
 * packetization and count bytes and frames, and a few are ffmpeg processes that decode every
 * picture (their error lines at `-v error` once all of them play are decode errors). Over a window that starts once
 * every client has a picture, it reads what the clients received and the CPU seconds (utime +
 * stime from /proc) of the processes on the path, the camera and the clients themselves. When the
 * camera fixture or the cloud's RTSP listener is missing, the section says so and is skipped.
 * @module
 */
import { cpuSeconds } from "./procfs.ts";
import { RtspPlayer } from "./rtsp_player.ts";

const SERVER = new URL("../tests/_fixtures/rtsp_server.py", import.meta.url).pathname;
/** The camera's stream path (fixed by the fixture). */
export const CAMERA_PATH = "live/cam1";

/** A running camera. */
export interface Camera {
  port: number;
  /** The camera's process (its CPU is read over the window). */
  pid: number;
  /**
   * Null while the camera's process runs; once it has exited, how (code or signal) and the last
   * lines it wrote to stderr — a section that needs it says so instead of 100 refused clients.
   */
  gone(): string | null;
  /**
   * Null while the camera runs and its port takes a connection; else what is wrong: `gone`'s
   * account, or that the process runs but its port refuses (and since when it last answered).
   */
  trouble(): Promise<string | null>;
  close(): Promise<void>;
}

/** Lines of the camera's stderr kept for `gone`. */
const STDERR_TAIL = 5;

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
  // The whole line: with PYTHONUNBUFFERED the fixture's print writes "listening", the port and
  // the newline separately, so a read may end inside the number.
  while (!/listening \d+\n/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  clearTimeout(timer);
  // Drained, not cancelled: a write to a closed stdout kills the camera (BrokenPipeError).
  const drained = (async () => {
    while (!(await reader.read()).done) { /* nothing more is expected */ }
  })().catch(() => {});
  const m = /listening (\d+)\n/.exec(out);
  if (!m) {
    const err = await new Response(child.stderr).text().catch(() => "");
    return { unavailable: `rtsp_server.py did not start: ${err.trim().split("\n").pop()}` };
  }
  // Drained, not closed: a GStreamer warning written to a closed pipe would kill the camera. Its
  // last lines are kept, for `gone`.
  const tail: string[] = [];
  let partial = "";
  child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(text) {
        const lines = (partial + text).split("\n");
        partial = lines.pop() ?? "";
        tail.push(...lines.filter((l) => l.trim()));
        tail.splice(0, Math.max(0, tail.length - STDERR_TAIL));
      },
    }),
  ).catch(() => {});
  let status: Deno.CommandStatus | null = null;
  child.status.then((s) => (status = s), () => {});
  const gone = (): string | null => {
    const s = status as Deno.CommandStatus | null;
    if (!s) return null;
    const how = s.signal ? `killed by ${s.signal}` : `exited with code ${s.code}`;
    const said = [...tail, partial].filter((l) => l.trim()).slice(-STDERR_TAIL).join(" | ");
    return `${how}${said ? `; its last stderr: ${said}` : "; nothing on its stderr"}`;
  };
  const port = Number(m[1]);
  const started = Date.now();
  let answered = started;
  return {
    port,
    pid: child.pid,
    async trouble() {
      const exited = gone();
      if (exited) return `its process has exited: ${exited}`;
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        answered = Date.now();
        return null;
      } catch (e) {
        const ago = Math.round((Date.now() - answered) / 1000);
        const last = answered === started
          ? `${ago} s after it started`
          : `it last took one ${ago} s ago`;
        const exited = gone();
        return `its process runs but port ${port} refuses connections ` +
          `(${(e as Error).message}; ${last})${exited ? `; it has now exited: ${exited}` : ""}`;
      }
    },
    gone,
    async close() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
      await drained;
    },
  };
}

/** The camera the RTSP section reads: 2 Mbit/s of 320×240 snow, 15 fps, a keyframe a second. */
export const CAMERA_2M_ARGS = ["--bitrate", "2000", "--size", "320x240", "--pattern", "snow"];

/** What N concurrent clients of one RTSP URL saw, and what it cost. */
export interface RtspResult {
  streams: number;
  /** Of which full ffmpeg decoders. */
  decoders: number;
  /** Clients that received pictures during the window. */
  flowing: number;
  /** The measured window, seconds. */
  seconds: number;
  /** Per client over the window, Mbit/s (RTP packets, headers included): median and lowest. */
  mbpsMedian: number;
  mbpsMin: number;
  /** Frames per second per light client over the window, median. */
  fpsMedian: number;
  /** Frames the light clients received and checked over the window. */
  framesChecked: number;
  /** Frames the ffmpeg decoders decoded over the window. */
  framesDecoded: number;
  /** Over the whole run: RTP packets lost, malformed packets, ffmpeg error lines. */
  lost: number;
  malformed: number;
  decoderErrors: number;
  /**
   * ffmpeg error lines while the decoders were still joining (each ffmpeg PLAY makes the
   * fixture seek, disturbing the decoders already playing): reported, not counted.
   */
  decoderErrorsWhileJoining: number;
  /** Clients that failed to start or ended early, and why (first one). */
  failed: number;
  /** The first problem of any kind, for the report. */
  sample: string | null;
  /** CPU over the window, in cores, of each group the caller named, plus "clients". */
  cores: Record<string, number>;
  /** The whole machine's busy time over the window, in cores (from /proc/stat). */
  machineCores: number;
}

/** All decode problems: lost packets, malformed packets and the decoders' error lines. */
export function decodeErrors(r: RtspResult): number {
  return r.lost + r.malformed + r.decoderErrors;
}

/** Busy jiffies of the whole machine (every CPU, all but idle and iowait). */
function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / 100;
}

const MUXER_LINE = /^\[null @ /;

/** An ffmpeg process decoding every picture of `url`, reporting decoded frames as it goes. */
class Decoder {
  frames = 0;
  /** ffmpeg's error lines, each with when it was read (performance.now()). */
  errors: { at: number; line: string }[] = [];
  /** Set once ffmpeg has exited. */
  exited = false;
  readonly done: Promise<void>;
  #child: Deno.ChildProcess;

  constructor(url: string) {
    const child = new Deno.Command("ffmpeg", {
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
        "-f",
        "null",
        "-progress",
        "pipe:1",
        "-stats_period",
        "0.25",
        "-nostats",
        "-",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    const progress = (async () => {
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        const m = [...chunk.matchAll(/frame=(\d+)/g)].pop();
        if (m) this.frames = Number(m[1]);
      }
    })();
    const errors = (async () => {
      let rest = "";
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop()!;
        // The null muxer's complaints about timestamps are not decode errors.
        for (const line of lines) {
          if (line.trim() && !MUXER_LINE.test(line)) {
            this.errors.push({ at: performance.now(), line });
          }
        }
      }
      if (rest.trim() && !MUXER_LINE.test(rest)) {
        this.errors.push({ at: performance.now(), line: rest });
      }
    })();
    this.done = Promise.all([progress, errors, child.status]).then(() => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** Asks ffmpeg to finish (SIGINT: it flushes and exits), then kills it if it lingers. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGINT");
    } catch { /* gone */ }
    const timer = setTimeout(() => {
      try {
        this.#child.kill("SIGKILL");
      } catch { /* gone */ }
    }, 5000);
    await this.done;
    clearTimeout(timer);
  }
}

/**
 * Opens `streams` concurrent clients of `url` (`decoders` of them ffmpeg, the rest light
 * players; opened a few at a time, as players arrive), waits until every one has a picture (or
 * 60 s), then measures over `seconds`. `cpu` names CPU-second counters to read over the window
 * (e.g. the cloud's process tree); the clients' own ("clients": this process and the decoders)
 * is added.
 */
export async function measureRtsp(
  url: string,
  streams: number,
  decoders: number,
  seconds: number,
  cpu: Record<string, () => number>,
): Promise<RtspResult> {
  decoders = Math.min(decoders, streams);
  const players: RtspPlayer[] = [];
  const decs: Decoder[] = [];
  const problems: string[] = [];
  let failed = 0;
  try {
    const light = streams - decoders;
    // The decoders first: ffmpeg's PLAY carries a Range, on which the fixture's shared GStreamer
    // pipeline seeks — every client already playing loses a packet and sees timestamps jump back.
    // The light players send no Range and disturb no one, so once the decoders play, joins are
    // clean (rtsp_player.ts).
    for (let i = 0; i < decoders; i++) decs.push(new Decoder(url));
    const deadline = Date.now() + 60_000;
    const waitFor = async (ok: () => boolean) => {
      while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    };
    await waitFor(() => decs.every((d) => d.frames > 0 || d.exited));
    // From here on no client sends a Range (see above): what the decoders report is the path's.
    const joined = performance.now();
    const opening = Array.from({ length: light }, (_, i) => i);
    const worker = async () => {
      for (let i = opening.shift(); i !== undefined; i = opening.shift()) {
        try {
          players.push(await RtspPlayer.play(url));
        } catch (e) {
          failed++;
          problems.push(`client could not start: ${(e as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    await waitFor(() => players.every((p) => p.check.counts.frames > 0 || p.error));

    const clients = () => cpuSeconds(Deno.pid) + decs.reduce((s, d) => s + cpuSeconds(d.pid), 0);
    const counters = { ...cpu, clients };
    const read = () => ({
      cpu: Object.fromEntries(Object.entries(counters).map(([k, f]) => [k, f()])),
      machine: machineBusySeconds(),
      bytes: players.map((p) => p.check.counts.bytes),
      frames: players.map((p) => p.check.counts.frames),
      decoded: decs.map((d) => d.frames),
      t: performance.now(),
    });
    const a = read();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const b = read();
    const exitedEarly = decs.filter((d) => d.exited).length;
    const elapsed = (b.t - a.t) / 1000;
    const mbps = b.bytes.map((x, i) => (x - a.bytes[i]) * 8 / elapsed / 1e6).sort((x, y) => x - y);
    const fps = b.frames.map((x, i) => (x - a.frames[i]) / elapsed).sort((x, y) => x - y);
    const framesChecked = b.frames.reduce((s, x, i) => s + x - a.frames[i], 0);
    const framesDecoded = b.decoded.reduce((s, x, i) => s + x - a.decoded[i], 0);
    const flowing = b.frames.filter((x, i) => x > a.frames[i]).length +
      b.decoded.filter((x, i) => x > a.decoded[i]).length;

    for (const p of players) p.close();
    await Promise.all(players.map((p) => p.ended));
    await Promise.all(decs.map((d) => d.stop()));
    for (const p of players) {
      if (p.error) {
        failed++;
        problems.push(`client ended early: ${p.error}`);
      }
      if (p.check.counts.firstProblem) problems.push(p.check.counts.firstProblem);
    }
    const counted = decs.flatMap((d) => d.errors.filter((e) => e.at >= joined));
    const whileJoining = decs.reduce((s, d) => s + d.errors.length, 0) - counted.length;
    problems.push(...counted.map((e) => e.line));
    if (exitedEarly) {
      failed += exitedEarly;
      problems.push(`${exitedEarly} ffmpeg decoder(s) exited before the window ended`);
    }
    const median = (xs: number[]) => xs.length ? xs[Math.floor(xs.length / 2)] : 0;
    return {
      streams,
      decoders,
      flowing,
      seconds: elapsed,
      mbpsMedian: median(mbps),
      mbpsMin: mbps[0] ?? 0,
      fpsMedian: median(fps),
      framesChecked,
      framesDecoded,
      lost: players.reduce((s, p) => s + p.check.counts.lost, 0),
      malformed: players.reduce((s, p) => s + p.check.counts.malformed, 0),
      decoderErrors: counted.length,
      decoderErrorsWhileJoining: whileJoining,
      failed,
      sample: problems[0] ?? null,
      cores: Object.fromEntries(
        Object.keys(counters).map((k) => [k, (b.cpu[k] - a.cpu[k]) / elapsed]),
      ),
      machineCores: (b.machine - a.machine) / elapsed,
    };
  } finally {
    for (const p of players) p.close();
    await Promise.all(decs.map((d) => d.stop()));
  }
}
