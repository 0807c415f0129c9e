/**
 * One camera session as the hub's feed source: RTSP over a connected stream (the agent's
 * tunnel), RTP H.264 depacketized into access units, remuxed into fMP4 segments for the sink.
 * @module
 */
import type { ByteStream } from "../../shared/transport/byte_stream.ts";
import type { DeviceCredentials } from "../access/device_auth.ts";
import type { FeedSink, FeedSource } from "./hub.ts";
import { Remuxer } from "./remuxer.ts";
import { H264Depacketizer } from "./rtp_h264.ts";
import { RtspClient } from "./rtsp_client.ts";

/** Starts the camera session on `conn`; resolves once the camera plays. */
export async function startCameraFeed(
  conn: ByteStream,
  url: string,
  credentials: () => Promise<DeviceCredentials | null>,
  sink: FeedSink,
  now?: () => number,
): Promise<FeedSource> {
  const remux = new Remuxer((i) => sink.init(i), (s) => sink.segment(s));
  const depack = new H264Depacketizer((au) => remux.push(au, now?.()));
  let payloadType: number | null = null;
  const client = new RtspClient(conn, {
    url,
    credentials,
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
  return {
    ended: client.ended.then(() => "the camera closed the stream"),
    close: () => client.close(),
  };
}
