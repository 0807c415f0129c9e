/**
 * A minimal RTSP/1.0 client for the live view: on a connected byte stream to a camera (the agent's
 * tunnel), DESCRIBE the stream, SETUP its H.264 or H.265 track over TCP interleaved, PLAY, and hand
 * every RTP packet of that track on. It reuses the gateway's message parser and serializer and
 * answers the camera's Basic/Digest challenge with cloud-held credentials (device_auth.ts).
 * Keep-alives (GET_PARAMETER) go out at half the session timeout. A recording may be asked as fast
 * as the camera can send it (ONVIF `Rate-Control: no`: a saved clip need not take as long as it
 * plays); then its owner paces the reading (`hold`), and through TCP the camera, to what it takes.
 * A camera's sound (AAC or G.711) is set up too when its owner asks (`onAudioRtp`), on the next
 * interleaved channels; one the camera refuses leaves the picture playing without it. PLAY's
 * `RTP-Info` (the RTP time of each track at one instant) is handed on before any packet after it.
 * @module
 */
import type { ByteStream } from "../../shared/transport/byte_stream.ts";
import { AppError } from "../../shared/errors.ts";
import { ChallengeAnswerer, type DeviceCredentials } from "../access/device_auth.ts";
import { writeAll } from "../access/rtsp/demux.ts";
import { header, headers, parseNext, type RtspMessage, serialize } from "../access/rtsp/message.ts";
import { concat, parseRtp, type RtpPacket } from "./rtp_video.ts";
import { type AudioTrack, parseAudioSdp, parseSdp, type VideoTrack } from "./sdp.ts";

/** What a running client needs from its owner. */
export interface RtspClientOptions {
  /** The camera's stream URL as the camera sees it (`rtsp://host:port/path`). */
  url: string;
  /** Credentials to answer a challenge with; null: none held. */
  credentials: () => Promise<DeviceCredentials | null>;
  /** Each RTP packet of the video track. */
  onRtp(p: RtpPacket): void;
  /** With it, the camera's sound (AAC or G.711) is set up too and its RTP packets handed here. */
  onAudioRtp?(p: RtpPacket): void;
  /** The tracks set up, before PLAY (so before any packet). */
  onTracks?(video: VideoTrack, audio: AudioTrack | null): void;
  /** The picture's and the sound's RTP times at one instant (PLAY's RTP-Info), before packets. */
  onSync?(video: number, audio: number): void;
  /** How long the camera may take to answer a request. */
  responseTimeoutMs?: number;
  /**
   * Play the camera's recording from this instant (ms) rather than live: every request carries
   * `Require: onvif-replay` and PLAY `Range: clock=…-` (ONVIF streaming, replay).
   */
  replayFrom?: number;
  /**
   * With `replayFrom`: ask the camera to send the recording as fast as it can (`Rate-Control:
   * no`) rather than as it plays; its answer says which it does ({@link RtspClient.fast}).
   */
  fast?: boolean;
  /**
   * Asked before each read: a promise holds reading (and so, through TCP and the tunnel's
   * windows, the camera) until it settles; null reads on. What was read is not yet taken.
   */
  hold?: () => Promise<void> | null;
}

/** An instant as RTSP's clock range writes it (`20261206T030000Z`). */
export function rtspClock(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** Speaks RTSP on one connection; `start` resolves once PLAY is answered. */
export class RtspClient {
  #conn: ByteStream;
  #o: RtspClientOptions;
  #cseq = 0;
  #waiting = new Map<string, (m: RtspMessage) => void>();
  #answerer: ChallengeAnswerer | null = null;
  #session: string | null = null;
  #keepAlive: ReturnType<typeof setInterval> | undefined;
  #channel = 0;
  /** Resolves when the connection ends (EOF, error, close). */
  readonly ended: Promise<void>;
  /** The video track found in the SDP (after start). */
  track: VideoTrack | null = null;
  /** The sound track set up (after start), or null: none asked, none in AAC or G.711, refused. */
  audio: AudioTrack | null = null;
  #audioChannel: number | null = null;
  /** The camera sends faster than the recording plays: it answered `Rate-Control: no`. */
  fast = false;
  /** How many times reading was held, so far (a keep-alive's answer waits behind a hold). */
  #holds = 0;
  #holding = false;
  /** Closed by its owner: nothing more is handed on, even what was read before. */
  #closed = false;

  /** Wraps a connected stream; starts reading at once. */
  constructor(conn: ByteStream, o: RtspClientOptions) {
    this.#conn = conn;
    this.#o = o;
    this.ended = this.#read().catch(() => {}).finally(() => this.close());
  }

  /** DESCRIBE, SETUP (TCP interleaved), PLAY; throws AppError when the camera refuses. */
  async start(): Promise<VideoTrack> {
    const desc = await this.#request("DESCRIBE", this.#o.url, [["Accept", "application/sdp"]]);
    const base = header(desc, "Content-Base") ?? header(desc, "Content-Location") ?? this.#o.url;
    const track = parseSdp(new TextDecoder().decode(desc.body), base);
    if (!track) {
      throw new AppError(
        "camera_refused",
        "the camera offers no H.264 or H.265 video track (MJPEG is not supported)",
      );
    }
    if (track.unplayable) throw new AppError("camera_refused", track.unplayable);
    this.track = track;
    const setup = await this.#request("SETUP", track.controlUrl, [
      ["Transport", "RTP/AVP/TCP;unicast;interleaved=0-1"],
    ]);
    const session = header(setup, "Session") ?? "";
    this.#session = session.split(";")[0].trim() || null;
    const ch = /interleaved=(\d+)/.exec(header(setup, "Transport") ?? "");
    this.#channel = ch ? Number(ch[1]) : 0;
    const timeout = Number(/timeout=(\d+)/.exec(session)?.[1] ?? 60);
    const audio = this.#o.onAudioRtp
      ? parseAudioSdp(new TextDecoder().decode(desc.body), base)
      : null;
    if (audio) {
      try {
        const a = await this.#request("SETUP", audio.controlUrl, [
          ["Transport", "RTP/AVP/TCP;unicast;interleaved=2-3"],
        ]);
        const ach = /interleaved=(\d+)/.exec(header(a, "Transport") ?? "");
        const channel = ach ? Number(ach[1]) : 2;
        if (channel !== this.#channel) {
          this.audio = audio;
          this.#audioChannel = channel;
        }
      } catch (e) {
        // A refused sound track leaves the picture playing without it (a connection that ended
        // fails at PLAY); a camera that does not answer is no camera to play.
        if (!(e instanceof AppError) || e.code !== "camera_refused") throw e;
      }
    }
    this.#o.onTracks?.(track, this.audio);
    const play = await this.#request(
      "PLAY",
      base,
      this.#o.replayFrom === undefined ? [["Range", "npt=0.000-"]] : [
        ["Range", `clock=${rtspClock(this.#o.replayFrom)}-`],
        ["Rate-Control", this.#o.fast ? "no" : "yes"],
      ],
    );
    // A camera that does not say it sends faster plays the recording as it plays.
    this.fast = this.#o.fast === true &&
      header(play, "Rate-Control")?.trim().toLowerCase() === "no";
    this.#keepAlive = setInterval(() => {
      const holds = this.#holds;
      // A camera that does not answer ends the session; one whose answer waited behind a hold
      // (its owner's reader was slow) does not.
      this.#request("GET_PARAMETER", base, []).catch(() => {
        if (this.#holds === holds && !this.#holding) this.close();
      });
    }, Math.max(5, timeout / 2) * 1000);
    return track;
  }

  /** Tears the session down (best effort) and closes the connection. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#keepAlive);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #request(method: string, uri: string, extra: [string, string][]): Promise<RtspMessage> {
    for (let attempt = 0;; attempt++) {
      const cseq = String(++this.#cseq);
      const h: [string, string][] = [
        ["CSeq", cseq],
        ["User-Agent", "Nanodems Connector live view"],
        ...(this.#o.replayFrom === undefined
          ? []
          : [["Require", "onvif-replay"] as [string, string]]),
        ...extra,
      ];
      if (this.#session) h.push(["Session", this.#session]);
      const auth = this.#answerer?.authorize(method, uri);
      if (auth) h.push(["Authorization", auth]);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const answered = new Promise<RtspMessage>((resolve, reject) => {
        timer = setTimeout(() => {
          this.#waiting.delete(cseq);
          reject(new AppError("device_timeout"));
        }, this.#o.responseTimeoutMs ?? 15_000);
        this.#waiting.set(cseq, (m) => {
          clearTimeout(timer);
          resolve(m);
        });
      });
      // The camera closing the connection (or the tunnel under it) is its refusal, whether it
      // came before the request was written or while its answer was awaited: the answer's wait
      // then ends too, never to reject later with no one listening.
      const closed = (): AppError => {
        clearTimeout(timer);
        this.#waiting.delete(cseq);
        return new AppError("camera_refused", "the camera closed the RTSP connection");
      };
      try {
        await writeAll(
          this.#conn,
          serialize({
            start: { kind: "request", method, uri },
            headers: h,
            body: new Uint8Array(0),
          }),
        );
      } catch {
        throw closed();
      }
      const res = await Promise.race([answered, this.ended.then(() => null)]);
      if (!res || res.start.kind !== "response") throw closed();
      if (res.start.status === 401 && attempt < 2) {
        const creds = this.#answerer ? null : await this.#o.credentials();
        if (creds) this.#answerer = new ChallengeAnswerer(creds);
        if (this.#answerer?.challenged(headers(res, "WWW-Authenticate"))) continue;
      }
      if (res.start.status === 401) {
        throw new AppError(
          "camera_refused",
          "the camera asks for credentials the cloud does not hold (or refused them); set them on the device",
        );
      }
      if (res.start.status >= 300) {
        throw new AppError(
          "camera_refused",
          `the camera answered ${method} with ${res.start.status} ${res.start.reason}`,
        );
      }
      return res;
    }
  }

  /** Hands on the RTP times of both tracks at one instant, when RTP-Info names both. */
  #rtpInfo(info: string): void {
    if (!this.track || !this.audio || !this.#o.onSync) return;
    const times = info.split(/,\s*(?=url=)/i).map((part) => ({
      url: /(?:^|;)\s*url=([^;]+)/i.exec(part)?.[1].trim() ?? "",
      rtptime: /(?:^|;)\s*rtptime=(\d+)/i.exec(part)?.[1],
    }));
    const of = (control: string) => {
      const last = control.slice(control.lastIndexOf("/") + 1);
      const t = times.find((x) =>
        x.url === control || (last && x.url.endsWith("/" + last)) || x.url === last
      );
      return t?.rtptime === undefined ? null : Number(t.rtptime) >>> 0;
    };
    const video = of(this.track.controlUrl);
    const audio = of(this.audio.controlUrl);
    if (video !== null && audio !== null) this.#o.onSync(video, audio);
  }

  /** Waits out a hold of reading, counted (a keep-alive's answer may wait behind it). */
  async #wait(held: Promise<void>): Promise<void> {
    this.#holds++;
    this.#holding = true;
    try {
      await held;
    } finally {
      this.#holding = false;
    }
  }

  async #read(): Promise<void> {
    const buf = new Uint8Array(64 << 10);
    let data: Uint8Array = new Uint8Array(0);
    for (;;) {
      const held = this.#o.hold?.();
      if (held) await this.#wait(held);
      if (this.#closed) return;
      const n = await this.#conn.read(buf);
      if (n === null) return;
      // A copy: what is left of it is kept across a hold, while `buf` takes the next read.
      data = data.length ? concat([data, buf.subarray(0, n)]) : buf.slice(0, n);
      for (;;) {
        const p = parseNext(data);
        if (p.kind === "more") break;
        if (p.kind === "error") throw new Error(p.reason);
        if (p.kind === "frame") {
          if (data.length < p.size) break;
          if (p.channel === this.#audioChannel) {
            const rtp = parseRtp(data.subarray(4, p.size));
            data = data.subarray(p.size);
            if (rtp && !this.#closed) this.#o.onAudioRtp?.(rtp);
            continue;
          }
          if (p.channel === this.#channel) {
            const rtp = parseRtp(data.subarray(4, p.size));
            data = data.subarray(p.size);
            if (rtp && !this.#closed) this.#o.onRtp(rtp);
            // A hold takes effect between packets: one read may carry seconds of a recording.
            const held = this.#o.hold?.();
            if (held) await this.#wait(held);
            if (this.#closed) return;
            continue;
          }
        } else if (p.message.start.kind === "response") {
          const cseq = header(p.message, "CSeq");
          const w = cseq === null ? undefined : this.#waiting.get(cseq);
          const info = header(p.message, "RTP-Info");
          if (w && info) this.#rtpInfo(info);
          if (w) {
            this.#waiting.delete(cseq!);
            w(p.message);
          }
        }
        data = data.subarray(p.size);
      }
      data = data.slice();
    }
  }
}
