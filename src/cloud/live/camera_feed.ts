/**
 * One camera session as the hub's feed source: RTSP over a connected stream (the agent's
 * tunnel), RTP H.264 or H.265 depacketized into access units, remuxed into fMP4 segments for the
 * sink.
 * A camera that stops sending pictures while its RTSP session stays up (a hung encoder, a stalled
 * pipeline: it may still answer keep-alives) would leave every viewer on a frozen picture with no
 * word; after {@link SILENCE_MS} without one the session ends with a reason, so the players say
 * why and reconnect, which opens a fresh session. A session whose sink holds it (a clip being
 * saved faster than its reader takes it) is not silent: it is waiting for its reader. A camera's
 * sound (AAC, or G.711 made FLAC) rides along in the same segments (a second track); silence is
 * judged by pictures.
 * @module
 */
import type { ByteStream } from "../../shared/transport/byte_stream.ts";
import type { DeviceCredentials } from "../access/device_auth.ts";
import type { FeedSink, FeedSource } from "./hub.ts";
import { Remuxer } from "./remuxer.ts";
import { AacDepacketizer, type AudioFrames } from "./rtp_aac.ts";
import { G711ToFlac } from "./g711_flac.ts";
import { NalDepacketizer, type RtpPacket } from "./rtp_video.ts";
import { nalFormat } from "./nal_format.ts";
import { RtspClient } from "./rtsp_client.ts";
import type { Pace } from "./pace.ts";

/** A playing session without a picture for this long ends, with {@link silenceReason}. */
export const SILENCE_MS = 10_000;

/** Why a session that had no picture for `ms` ended (what viewers show). */
export function silenceReason(ms = SILENCE_MS): string {
  const s = ms / 1000;
  return `no picture from the camera for ${s} second${s === 1 ? "" : "s"}`;
}

/** How a camera session is played. */
export interface CameraFeedOptions {
  /** Stamps each picture's arrival (latency figures). */
  now?: () => number;
  /** Overrides {@link SILENCE_MS} (tests). */
  silenceMs?: number;
  /** Plays the camera's recording from this instant (ms) instead of live. */
  replayFrom?: number;
  /** Asks the recording as fast as the camera can send it (held by the sink's `hold`). */
  fast?: boolean;
  /** Paces what the camera sends fast to a speed (pace.ts): a recording played at 2×, 4×… */
  pace?: Pace;
  /** Plays the camera's sound too (default); false: its sound track is never set up. */
  sound?: boolean;
}

/** Starts the camera session on `conn`; resolves once the camera plays. */
export async function startCameraFeed(
  conn: ByteStream,
  url: string,
  credentials: () => Promise<DeviceCredentials | null>,
  sink: FeedSink,
  o: CameraFeedOptions = {},
): Promise<FeedSource> {
  const silenceMs = o.silenceMs ?? SILENCE_MS;
  let lastPicture = performance.now();
  let holding = false;
  // Both made once the camera's description tells the picture's codec (before PLAY).
  let remux: Remuxer | null = null;
  let depack: NalDepacketizer | null = null;
  let payloadType: number | null = null;
  /** The sound's packets, once the camera set up AAC sound. */
  let sound: ((p: RtpPacket) => void) | null = null;
  const client = new RtspClient(conn, {
    url,
    credentials,
    replayFrom: o.replayFrom,
    fast: o.fast || o.pace !== undefined,
    hold: () => {
      // The viewer's own hold (a clip's reader), else the pace's: pictures ahead of their time.
      const wait = o.pace?.ahead() ?? 0;
      const held = sink.hold?.() ??
        (wait > 0 ? new Promise<void>((r) => setTimeout(r, wait)) : null);
      if (!held) return null;
      holding = true;
      return held.finally(() => {
        holding = false;
        lastPicture = performance.now();
      });
    },
    onRtp: (p) => {
      if (payloadType === null || p.payloadType === payloadType) depack?.push(p);
    },
    onTracks: (video, audio) => {
      payloadType = video.payloadType;
      const format = nalFormat(video.codec);
      const r = new Remuxer((i) => sink.init(i), (s) => {
        if (!s.audio) o.pace?.seen(s.decodeTime);
        sink.segment(s);
      }, format);
      r.parameterSets(video.vps, video.sps, video.pps);
      remux = r;
      depack = new NalDepacketizer(format, (au) => {
        lastPicture = performance.now();
        r.push(au, o.now?.());
      });
      if (!audio) return;
      r.audioTrack(audio);
      const pt = audio.payloadType;
      const onFrames = (f: AudioFrames) => r.pushAudio(f);
      const d = audio.encoding === "aac"
        ? new AacDepacketizer(audio, onFrames)
        : new G711ToFlac({ encoding: audio.encoding, channels: audio.channels }, onFrames);
      sound = (p) => {
        if (p.payloadType === pt) d.push(p);
      };
    },
    ...(o.sound === false ? {} : { onAudioRtp: (p: RtpPacket) => sound?.(p) }),
    onSync: (video, audio) => remux?.sync(video, audio),
  });
  try {
    const track = await client.start();
    payloadType = track.payloadType;
  } catch (e) {
    client.close();
    throw e;
  }
  lastPicture = performance.now();
  let silent: string | null = null;
  const watchdog = setInterval(() => {
    if (holding || performance.now() - lastPicture < silenceMs) return;
    clearInterval(watchdog);
    silent = silenceReason(silenceMs);
    client.close();
  }, Math.min(1_000, Math.max(50, silenceMs / 4)));
  const ended = client.ended.then(() => silent ?? "the camera closed the stream");
  ended.finally(() => clearInterval(watchdog));
  return {
    ended,
    fast: client.fast,
    close: () => {
      clearInterval(watchdog);
      client.close();
    },
  };
}
