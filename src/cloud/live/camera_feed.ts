/**
 * One camera session as the hub's feed source: RTSP over a connected stream (the agent's
 * tunnel), RTP H.264 depacketized into access units, remuxed into fMP4 segments for the sink.
 * A camera that stops sending pictures while its RTSP session stays up (a hung encoder, a stalled
 * pipeline: it may still answer keep-alives) would leave every viewer on a frozen picture with no
 * word; after {@link SILENCE_MS} without one the session ends with a reason, so the players say
 * why and reconnect, which opens a fresh session. A session whose sink holds it (a clip being
 * saved faster than its reader takes it) is not silent: it is waiting for its reader.
 * @module
 */
import type { ByteStream } from "../../shared/transport/byte_stream.ts";
import type { DeviceCredentials } from "../access/device_auth.ts";
import type { FeedSink, FeedSource } from "./hub.ts";
import { Remuxer } from "./remuxer.ts";
import { H264Depacketizer } from "./rtp_h264.ts";
import { RtspClient } from "./rtsp_client.ts";

/** A playing session without a picture for this long ends, with {@link silenceReason}. */
export const SILENCE_MS = 10_000;

/** Why a session that had no picture for `ms` ended (what viewers show). */
export function silenceReason(ms = SILENCE_MS): string {
  const s = ms / 1000;
  return `no picture from the camera for ${s} second${s === 1 ? "" : "s"}`;
}

/**
 * Starts the camera session on `conn`; resolves once the camera plays. `now` stamps each
 * picture's arrival (latency figures); `silenceMs` overrides {@link SILENCE_MS} (tests);
 * `replayFrom` plays the camera's recording from that instant (ms) instead of live, and `fast`
 * asks it as fast as the camera can send (paced by the sink's `hold`).
 */
export async function startCameraFeed(
  conn: ByteStream,
  url: string,
  credentials: () => Promise<DeviceCredentials | null>,
  sink: FeedSink,
  now?: () => number,
  silenceMs = SILENCE_MS,
  replayFrom?: number,
  fast = false,
): Promise<FeedSource> {
  let lastPicture = performance.now();
  let holding = false;
  const remux = new Remuxer((i) => sink.init(i), (s) => sink.segment(s));
  const depack = new H264Depacketizer((au) => {
    lastPicture = performance.now();
    remux.push(au, now?.());
  });
  let payloadType: number | null = null;
  const client = new RtspClient(conn, {
    url,
    credentials,
    replayFrom,
    fast,
    hold: () => {
      const held = sink.hold?.();
      if (!held) return null;
      holding = true;
      return held.finally(() => {
        holding = false;
        lastPicture = performance.now();
      });
    },
    onRtp: (p) => {
      if (payloadType === null || p.payloadType === payloadType) depack.push(p);
    },
  });
  try {
    const track = await client.start();
    payloadType = track.payloadType;
    remux.parameterSets(track.sps, track.pps);
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
