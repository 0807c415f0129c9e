/**
 * RTSP peers for the tests: GStreamer's RTSP server as the camera (rtsp_server.py, run by
 * Debian's /usr/bin/python3), ffprobe as the player, and a raw RTSP client for exact status
 * lines.
 * @module
 */
const SERVER = new URL("./rtsp_server.py", import.meta.url).pathname;

/** A running RTSP camera. */
export interface RtspCamera {
  port: number;
  /** The stream's path on the camera. */
  path: string;
  /** The camera's process (a test may stop it: a camera that hangs). */
  pid: number;
  /** Its recording's path over ONVIF replay (`recording: true`), else null. */
  recordingPath: string | null;
  close(): Promise<void>;
}

/**
 * Starts GStreamer's RTSP server on a free loopback port (optionally with Digest auth, with
 * `mounts` streams: /live/cam1 … /live/camN, and with `recording`: a recording at
 * /recording/cam1 served by GStreamer's ONVIF server, which honours `Rate-Control: no`; its
 * picture is `pattern`'s, at `bitrate` kbit/s).
 */
export async function startCamera(
  opts: {
    digest?: string;
    mounts?: number;
    recording?: boolean;
    pattern?: string;
    bitrate?: number;
    /** The live mounts send a 440 Hz tone too: AAC (`true`), or G.711 μ-law or A-law. */
    audio?: true | "pcmu" | "pcma";
    /** The picture's encoding: H.264 (the default) or H.265. */
    codec?: "h264" | "h265";
  } = {},
): Promise<RtspCamera> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [
      SERVER,
      ...(opts.digest ? ["--digest", opts.digest] : []),
      ...(opts.mounts ? ["--mounts", String(opts.mounts)] : []),
      ...(opts.recording ? ["--recording"] : []),
      ...(opts.pattern ? ["--pattern", opts.pattern] : []),
      ...(opts.bitrate ? ["--bitrate", String(opts.bitrate)] : []),
      ...(opts.audio === true ? ["--audio"] : opts.audio ? ["--audio", opts.audio] : []),
      ...(opts.codec ? ["--codec", opts.codec] : []),
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = setTimeout(() => child.kill("SIGKILL"), 20_000);
  // The whole line: with PYTHONUNBUFFERED the fixture's print writes "listening", the port and
  // the newline separately, so a read may end inside the number.
  while (!/listening \d+\n/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  clearTimeout(deadline);
  const m = /listening (\d+)\n/.exec(out);
  if (!m) {
    const err = await new Response(child.stderr).text();
    throw new Error(`rtsp_server.py did not start: ${out} ${err}`);
  }
  child.stderr.cancel().catch(() => {});
  return {
    port: Number(m[1]),
    path: "/live/cam1",
    pid: child.pid,
    recordingPath: opts.recording ? "/recording/cam1" : null,
    async close() {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

/** What ffprobe found. */
export interface Probe {
  code: number;
  codec: string | null;
  width: number | null;
  stderr: string;
}

/** ffprobe's options for an RTSP URL: quiet, over TCP, a 15 s read timeout. */
const RTSP_PROBE = ["-v", "error", "-rw_timeout", "15000000", "-rtsp_transport", "tcp"];

/** The kinds of the streams ffprobe finds at an RTSP URL (`video`, `audio`…), in order. */
export async function streamKinds(url: string): Promise<string[]> {
  const out = await new Deno.Command("ffprobe", {
    args: [...RTSP_PROBE, "-show_entries", "stream=codec_type", "-of", "json", url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const j = JSON.parse(new TextDecoder().decode(out.stdout) || "{}");
  return ((j.streams ?? []) as { codec_type: string }[]).map((s) => s.codec_type);
}

/** Runs ffprobe over RTSP/TCP on `url`, decoding a few frames of the video stream. */
export async function ffprobe(url: string, extra: string[] = []): Promise<Probe> {
  const out = await new Deno.Command("ffprobe", {
    args: [
      ...RTSP_PROBE,
      ...extra,
      "-select_streams",
      "v:0",
      "-count_frames",
      "-read_intervals",
      "%+#5",
      "-show_entries",
      "stream=codec_name,width,nb_read_frames",
      "-of",
      "json",
      url,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  let codec: string | null = null;
  let width: number | null = null;
  try {
    const j = JSON.parse(new TextDecoder().decode(out.stdout));
    const s = j.streams?.[0];
    if (s && Number(s.nb_read_frames) > 0) {
      codec = s.codec_name ?? null;
      width = s.width ?? null;
    }
  } catch { /* no JSON */ }
  return { code: out.code, codec, width, stderr };
}

/** What ffprobe and ffmpeg found in a video file. */
export interface FileProbe {
  /** The video stream's codec and width, or null. */
  codec: string | null;
  width: number | null;
  /** Its packets (pictures), and the first and last presentation times (seconds). */
  packets: number;
  firstPts: number | null;
  lastPts: number | null;
  /** What ffmpeg said decoding every picture ("" when it decoded all without a word). */
  decodeErrors: string;
}

/** ffprobe's JSON on `path` for `args` (before the path), and what it said on stderr. */
async function ffprobeFile(
  path: string,
  ...args: string[]
): Promise<{ json: Record<string, unknown>; stderr: string }> {
  const out = await new Deno.Command("ffprobe", {
    args: ["-v", "error", ...args, "-of", "json", path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    json: JSON.parse(new TextDecoder().decode(out.stdout) || "{}"),
    stderr: new TextDecoder().decode(out.stderr).trim(),
  };
}

/** Probes a video file (an MP4 saved from a recording): its stream, packets and a full decode. */
export async function probeFile(path: string): Promise<FileProbe> {
  const { json: j } = await ffprobeFile(
    path,
    "-select_streams",
    "v:0",
    "-show_entries",
    "stream=codec_name,width:packet=pts_time",
  );
  const streams = (j.streams ?? []) as { codec_name?: string; width?: number }[];
  const pts = ((j.packets ?? []) as { pts_time?: string }[]).map((p) => Number(p.pts_time))
    .filter(Number.isFinite);
  const decoded = await new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "null", "-"],
    stdout: "null",
    stderr: "piped",
  }).output();
  return {
    codec: streams[0]?.codec_name ?? null,
    width: streams[0]?.width ?? null,
    packets: pts.length,
    firstPts: pts.length ? Math.min(...pts) : null,
    lastPts: pts.length ? Math.max(...pts) : null,
    decodeErrors: new TextDecoder().decode(decoded.stderr).trim(),
  };
}

/** One stream of a file as ffprobe reads it (frames counted by decoding them). */
export interface StreamProbe {
  type: string;
  codec: string;
  width?: number;
  height?: number;
  sampleRate?: number;
  channels?: number;
  /** Frames decoded (pictures, or sound frames). */
  frames: number;
}

/** Every stream of a media file, each decoded whole by ffprobe; what it said on stderr. */
export async function probeStreams(
  path: string,
): Promise<{ streams: StreamProbe[]; stderr: string }> {
  const { json, stderr } = await ffprobeFile(
    path,
    "-count_frames",
    "-show_entries",
    "stream=codec_type,codec_name,width,height,sample_rate,channels,nb_read_frames",
  );
  const num = (v: unknown) => v === undefined ? undefined : Number(v);
  const streams = ((json.streams ?? []) as Record<string, unknown>[]).map((s) => ({
    type: String(s.codec_type),
    codec: String(s.codec_name),
    width: num(s.width),
    height: num(s.height),
    sampleRate: num(s.sample_rate),
    channels: num(s.channels),
    frames: Number(s.nb_read_frames ?? 0),
  }));
  return { streams, stderr };
}

/** Sends raw RTSP requests on one connection and reads one response per request. */
export async function rtspExchange(
  port: number,
  requests: string[],
): Promise<{ status: number; reason: string; head: string }[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const out: { status: number; reason: string; head: string }[] = [];
  const buf = new Uint8Array(65536);
  let text = "";
  try {
    for (const r of requests) {
      await conn.write(new TextEncoder().encode(r));
      while (!text.includes("\r\n\r\n")) {
        const n = await conn.read(buf);
        if (n === null) return out;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      const end = text.indexOf("\r\n\r\n") + 4;
      const head = text.slice(0, end);
      const len = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
      while (text.length < end + len) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += new TextDecoder().decode(buf.subarray(0, n));
      }
      text = text.slice(end + len);
      const m = /^RTSP\/1\.0 (\d{3}) ?(.*)\r\n/.exec(head);
      out.push({ status: m ? Number(m[1]) : 0, reason: m?.[2] ?? "", head });
    }
    return out;
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/**
 * A TCP proxy in front of a camera that counts the connections (RTSP sessions) it carries.
 * `mute()` makes the camera fall silent on the connections open now: what it sends them is read
 * and dropped, the connections stay up (a hung camera); new connections are carried as before.
 */
export function countingProxy(port: number): {
  port: number;
  accepted: () => number;
  open: () => number;
  mute: () => void;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  let open = 0;
  const conns = new Set<Deno.Conn>();
  const carried = new Set<Deno.Conn>();
  const muted = new Set<Deno.Conn>();
  const closeQuietly = (x: Deno.Conn) => {
    try {
      x.close();
    } catch { /* closed */ }
  };
  const serve = async (c: Deno.Conn) => {
    accepted++;
    open++;
    conns.add(c);
    carried.add(c);
    try {
      const up = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(up);
      const toCamera = c.readable.pipeTo(up.writable).finally(() => closeQuietly(up));
      const fromCamera = (async () => {
        const buf = new Uint8Array(64 << 10);
        for (;;) {
          const n = await up.read(buf);
          if (n === null) break;
          if (muted.has(c)) continue;
          let off = 0;
          while (off < n) off += await c.write(buf.subarray(off, n));
        }
      })().finally(() => closeQuietly(c));
      await Promise.allSettled([toCamera, fromCamera]);
    } catch {
      /* either side gone */
    } finally {
      open--;
      carried.delete(c);
      muted.delete(c);
    }
  };
  (async () => {
    for await (const c of listener) serve(c);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    open: () => open,
    mute: () => {
      for (const c of carried) muted.add(c);
    },
    close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      return Promise.resolve();
    },
  };
}

/**
 * A fake RTSP device on loopback that answers every request with 200 OK (same CSeq) and keeps the
 * connection: for tests about the gateway and live access, where no real camera is needed. With
 * `afterPlay`, it writes those bytes after its answer to PLAY and then says nothing more (a camera
 * that stalls, say in the middle of a frame).
 */
export function fakeRtspDevice(
  opts: { afterPlay?: Uint8Array } = {},
): { port: number; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  (async () => {
    for await (const c of listener) {
      conns.add(c);
      (async () => {
        const buf = new Uint8Array(8192);
        let stalled = false;
        for (;;) {
          const n = await c.read(buf).catch(() => null);
          if (n === null) break;
          if (stalled) continue;
          const text = new TextDecoder().decode(buf.subarray(0, n));
          const cseq = /CSeq: *(\d+)/i.exec(text)?.[1];
          const ok = await c.write(
            new TextEncoder().encode(`RTSP/1.0 200 OK\r\nCSeq: ${cseq ?? 0}\r\n\r\n`),
          ).catch(() => null);
          if (ok === null) break;
          if (opts.afterPlay && text.startsWith("PLAY ")) {
            stalled = true;
            if (await c.write(opts.afterPlay).catch(() => null) === null) break;
          }
        }
        conns.delete(c);
        try {
          c.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      return Promise.resolve();
    },
  };
}

/** An RTSP request as the replaying camera saw it. */
export interface ReplayRequest {
  method: string;
  uri: string;
  require: string | null;
  range: string | null;
  rateControl: string | null;
}

/**
 * A camera that replays its recording, made of GStreamer's live camera on `port`: RTSP requests
 * for `replayPath` (a path, or a pattern matching several recordings' paths), and their
 * `Require: onvif-replay`, `Range: clock=…` and `Rate-Control`, are
 * recorded, then passed on for `livePath` without them (GStreamer plays its live picture as "the
 * recording"); everything else passes unchanged. The camera's answers pass back untouched.
 * With `onvif`, `livePath` is GStreamer's ONVIF recording (startCamera `recording`): `Require`
 * and `Rate-Control` pass on to it, and only the clock range becomes `npt=0.000-` (the fixture's
 * recording has no wall-clock instants).
 */
export function replayProxy(
  port: number,
  replayPath: string | RegExp,
  livePath: string,
  opts: { onvif?: boolean } = {},
): {
  port: number;
  requests: ReplayRequest[];
  /** Bytes the camera sent, over every connection so far. */
  sent(): number;
  /** How many RTSP connections (camera sessions) are open now. */
  sessions(): number;
  /** Cuts every open connection (the camera's network drops), leaving it listening. */
  drop(): void;
  close(): Promise<void>;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const requests: ReplayRequest[] = [];
  const conns = new Set<Deno.Conn>();
  let sessions = 0;
  let sent = 0;
  const closeQuietly = (x: Deno.Conn) => {
    try {
      x.close();
    } catch { /* closed */ }
  };
  const rewrite = (head: string): string => {
    const [start, ...lines] = head.split("\r\n");
    const [method, uri, version] = start.split(" ");
    const value = (name: string) =>
      lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`))?.slice(
        name.length + 1,
      )
        .trim() ?? null;
    requests.push({
      method,
      uri,
      require: value("Require"),
      range: value("Range"),
      rateControl: value("Rate-Control"),
    });
    const kept = lines.filter((l) => opts.onvif || !/^(require|rate-control):/i.test(l))
      .map((l) => /^range:\s*clock=/i.test(l) ? "Range: npt=0.000-" : l);
    return [`${method} ${uri.replace(replayPath, livePath)} ${version}`, ...kept].join("\r\n");
  };
  const serve = async (c: Deno.Conn) => {
    conns.add(c);
    sessions++;
    try {
      const up = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.add(up);
      const toCamera = (async () => {
        const buf = new Uint8Array(16 << 10);
        let text = "";
        for (;;) {
          const n = await c.read(buf);
          if (n === null) break;
          text += new TextDecoder().decode(buf.subarray(0, n));
          for (let end; (end = text.indexOf("\r\n\r\n")) >= 0;) {
            const head = rewrite(text.slice(0, end));
            text = text.slice(end + 4);
            const out = new TextEncoder().encode(`${head}\r\n\r\n`);
            let off = 0;
            while (off < out.length) off += await up.write(out.subarray(off));
          }
        }
      })().finally(() => closeQuietly(up));
      const fromCamera = (async () => {
        const buf = new Uint8Array(64 << 10);
        for (;;) {
          const n = await up.read(buf);
          if (n === null) break;
          sent += n;
          let off = 0;
          while (off < n) off += await c.write(buf.subarray(off, n));
        }
      })().catch(() => {}).finally(() => closeQuietly(c));
      await Promise.allSettled([toCamera, fromCamera]);
    } catch {
      /* either side gone */
    } finally {
      sessions--;
      conns.delete(c);
      closeQuietly(c);
    }
  };
  (async () => {
    for await (const c of listener) serve(c);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests,
    sent: () => sent,
    sessions: () => sessions,
    drop() {
      for (const c of conns) closeQuietly(c);
    },
    close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      return Promise.resolve();
    },
  };
}
