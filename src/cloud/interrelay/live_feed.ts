/**
 * A live-view camera session shared between nodes (proto/bridge.md, `op: "live"`). Behind a
 * load balancer two viewers of one camera may enter two nodes; each node playing the camera
 * itself would open two RTSP sessions at a camera that often allows only a few. So the node that
 * holds the agent's control stream (the owner) plays the camera once for the whole deployment,
 * and a sibling whose viewer asked for it subscribes over a BridgeTunnel: the owner attaches a
 * forwarder as one more viewer of its feed, and the sibling's feed is fed by what arrives, so
 * its own viewers, joiners and slow-viewer skipping work as for a local camera.
 *
 * After the RESULT, the owner's DATA bytes are messages `type:u8 | length:u32 BE | payload`:
 * INIT (`u16` JSON length, `{codec, width, height}`, then the init segment), SEGMENT (`u8`
 * flags — bit 0 keyframe, bit 1 arrival time present, bit 2 a segment of sound — `f64` decode time,
 * `f64` arrival ms, then the media segment) and END (the reason the session ended, UTF-8). The credit window of the
 * bridge bounds what the owner has in flight; past {@linkcode SLOW_VIEWER_BYTES} queued the
 * owner's feed skips pictures to the next keyframe for that sibling, as for any slow viewer.
 * @module
 */
import { z } from "zod";
import type { Init, Segment } from "../live/remuxer.ts";
import type { FeedSink, FeedSource, Viewer } from "../live/hub.ts";
import type { ByteStream } from "../../shared/transport/byte_stream.ts";

/** Message types of a shared live feed. */
export const LiveMsg = { INIT: 1, SEGMENT: 2, END: 3 } as const;

const HEAD = 5;
/** Largest message: one picture (a 4K keyframe is a few MiB) or the init segment. */
export const MAX_LIVE_MSG = 16 << 20;
const KEYFRAME = 1;
const ARRIVED = 2;
/** A segment of sound (an older node ignores the bit: it only forwards the bytes). */
const SOUND = 4;

/** The INIT message's JSON part, validated: a sibling is trusted for policy, not for its bytes. */
const initHead = z.object({
  codec: z.string().min(1).max(64),
  width: z.number().int().min(0).max(65_535),
  height: z.number().int().min(0).max(65_535),
});

/** How long a session's end waits for a stalled sibling to read what was queued before it. */
export const END_WITHIN_MS = 10_000;

/** Why a subscriber's session ended when the owner's connection went away without an END. */
export const OWNER_GONE = "the cloud node holding the camera's agent went away";

function message(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEAD + payload.byteLength);
  out[0] = type;
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, HEAD);
  return out;
}

/** An INIT message. */
export function encodeInit(i: Init): Uint8Array {
  const json = new TextEncoder().encode(
    JSON.stringify({ codec: i.codec, width: i.width, height: i.height }),
  );
  const p = new Uint8Array(2 + json.byteLength + i.bytes.byteLength);
  new DataView(p.buffer).setUint16(0, json.byteLength);
  p.set(json, 2);
  p.set(i.bytes, 2 + json.byteLength);
  return message(LiveMsg.INIT, p);
}

/** A SEGMENT message. */
export function encodeSegment(s: Segment): Uint8Array {
  const p = new Uint8Array(17 + s.bytes.byteLength);
  const v = new DataView(p.buffer);
  p[0] = (s.keyframe ? KEYFRAME : 0) | (s.arrivedMs !== undefined ? ARRIVED : 0) |
    (s.audio ? SOUND : 0);
  v.setFloat64(1, s.decodeTime);
  v.setFloat64(9, s.arrivedMs ?? 0);
  p.set(s.bytes, 17);
  return message(LiveMsg.SEGMENT, p);
}

/** An END message. */
export function encodeEnd(reason: string): Uint8Array {
  return message(LiveMsg.END, new TextEncoder().encode(reason.slice(0, 500)));
}

/** One decoded message. */
export type LiveMessage =
  | { type: "init"; init: Init }
  | { type: "segment"; segment: Segment }
  | { type: "end"; reason: string };

/** Thrown for bytes that are not a live feed. */
export class LiveFeedError extends Error {}

async function readFull(conn: ByteStream, p: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < p.byteLength) {
    const n = await conn.read(p.subarray(off));
    if (n === null) {
      if (off === 0) return false;
      throw new LiveFeedError("the feed ended inside a message");
    }
    off += n;
  }
  return true;
}

/**
 * Reads the next message; null when the stream ended between messages. Throws
 * {@linkcode LiveFeedError} for an unknown type, an oversized or malformed message.
 */
export async function readLiveMessage(conn: ByteStream): Promise<LiveMessage | null> {
  const head = new Uint8Array(HEAD);
  if (!await readFull(conn, head)) return null;
  const type = head[0];
  const len = new DataView(head.buffer).getUint32(1);
  if (len > MAX_LIVE_MSG) throw new LiveFeedError(`a message of ${len} bytes`);
  const p = new Uint8Array(len);
  if (len > 0 && !await readFull(conn, p)) throw new LiveFeedError("the feed ended early");
  const v = new DataView(p.buffer);
  switch (type) {
    case LiveMsg.INIT: {
      if (len < 2) throw new LiveFeedError("a short INIT");
      const jl = v.getUint16(0);
      if (2 + jl > len) throw new LiveFeedError("an INIT whose head overruns it");
      let parsed;
      try {
        parsed = initHead.safeParse(JSON.parse(new TextDecoder().decode(p.subarray(2, 2 + jl))));
      } catch {
        throw new LiveFeedError("an INIT whose head is not JSON");
      }
      if (!parsed.success) throw new LiveFeedError("an INIT with a bad head");
      return { type: "init", init: { ...parsed.data, bytes: p.subarray(2 + jl) } };
    }
    case LiveMsg.SEGMENT: {
      if (len < 17) throw new LiveFeedError("a short SEGMENT");
      const flags = p[0];
      const decodeTime = v.getFloat64(1);
      const arrivedMs = v.getFloat64(9);
      if (!Number.isFinite(decodeTime) || !Number.isFinite(arrivedMs)) {
        throw new LiveFeedError("a SEGMENT with a time that is not a number");
      }
      return {
        type: "segment",
        segment: {
          bytes: p.subarray(17),
          keyframe: (flags & KEYFRAME) !== 0,
          decodeTime,
          ...((flags & ARRIVED) !== 0 ? { arrivedMs } : {}),
          ...((flags & SOUND) !== 0 ? { audio: true } : {}),
        },
      };
    }
    case LiveMsg.END:
      return { type: "end", reason: new TextDecoder().decode(p) };
    default:
      throw new LiveFeedError(`unknown message type ${type}`);
  }
}

/**
 * The owner's side: a viewer of the owner's feed that writes what it gets to `conn`, in order,
 * one write at a time. `buffered()` counts what is queued and not yet taken by the bridge (whose
 * credit window stalls a slow sibling), so the feed skips pictures for it past the bound. `done`
 * resolves when the sibling closed its side or the connection failed, or after the feed's END was
 * written; the caller detaches the viewer then.
 */
export function feedForwarder(conn: ByteStream): { viewer: Viewer; done: Promise<void> } {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let writing = false;
  let ended = false;
  let finish!: () => void;
  const done = new Promise<void>((r) => finish = r);
  const stop = () => {
    ended = true;
    queue.length = 0;
    queued = 0;
    finish();
  };
  const pump = async () => {
    if (writing) return;
    writing = true;
    try {
      while (queue.length) {
        const m = queue[0];
        let off = 0;
        while (off < m.byteLength) off += await conn.write(m.subarray(off));
        queue.shift();
        queued -= m.byteLength;
      }
    } catch {
      return stop();
    } finally {
      writing = false;
    }
    if (ended) {
      await conn.closeWrite().catch(() => {});
      finish();
    }
  };
  const push = (m: Uint8Array) => {
    if (ended) return;
    queue.push(m);
    queued += m.byteLength;
    void pump();
  };
  // The sibling sends nothing: its end of stream, or a failure, means it has gone.
  (async () => {
    const scratch = new Uint8Array(64);
    try {
      while (await conn.read(scratch) !== null) { /* nothing expected */ }
    } catch { /* closed */ }
    stop();
  })();
  return {
    viewer: {
      init: (i) => push(encodeInit(i)),
      send: (s) => push(encodeSegment(s)),
      buffered: () => queued,
      close: (reason) => {
        push(encodeEnd(reason));
        ended = true;
        void pump();
        // A sibling that stopped reading gets END_WITHIN_MS to take the rest, then is cut off.
        const cut = setTimeout(() => {
          try {
            conn.close();
          } catch { /* closed */ }
          stop();
        }, END_WITHIN_MS);
        Deno.unrefTimer(cut);
        done.then(() => clearTimeout(cut));
      },
    },
    done,
  };
}

/**
 * The subscriber's side: a feed source fed by the owner's messages on `conn` (after its RESULT).
 * It ends with the owner's END reason, {@linkcode OWNER_GONE} when the connection ended without
 * one, or a protocol error's message (`onBadFeed` is told, for the log).
 */
export function remoteFeedSource(
  conn: ByteStream,
  sink: FeedSink,
  onBadFeed: (why: string) => void,
): FeedSource {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  const ended = (async () => {
    try {
      for (;;) {
        const m = await readLiveMessage(conn);
        if (m === null) return OWNER_GONE;
        if (m.type === "init") sink.init(m.init);
        else if (m.type === "segment") sink.segment(m.segment);
        else return m.reason;
      }
    } catch (e) {
      if (e instanceof LiveFeedError) {
        onBadFeed(e.message);
        return "the camera session ended";
      }
      return OWNER_GONE;
    } finally {
      close();
    }
  })();
  return { ended, close };
}
