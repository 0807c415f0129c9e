// The live view's RTSP client against a camera that stops answering its keep-alives (a loopback
// server speaking RTSP by hand: DESCRIBE, SETUP with a 10 s session timeout, PLAY, then silence
// to every GET_PARAMETER, a packet every 200 ms). Without a hold, an unanswered keep-alive ends the session: the camera
// is gone. While its owner holds reading (a clip's slow download), the keep-alive's answer may be
// waiting behind the held bytes: the session is kept, and reads on once the hold ends. A camera
// (or a tunnel) that closes the connection is a refusal in words, whenever it closes.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { RtspClient } from "../../../../src/cloud/live/rtsp_client.ts";
import { AppError } from "../../../../src/shared/errors.ts";
import type { ByteStream } from "../../../../src/shared/transport/byte_stream.ts";
import { handRtspCamera } from "../../../_fixtures/hand_rtsp_camera.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
  "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";

/** A camera on loopback that answers everything but GET_PARAMETER; its port and methods seen. */
function silentKeepAliveCamera() {
  const seen: string[] = [];
  const cam = handRtspCamera(({ method, cseq, conn }) => {
    seen.push(method);
    if (method === "GET_PARAMETER") return null;
    if (method === "PLAY") {
      // After PLAY, a picture's packet now and then (its payload empty): the reader wakes.
      const rtp = new Uint8Array([0x24, 0, 0, 12, 0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
      const tick = setInterval(() => conn.write(rtp).catch(() => clearInterval(tick)), 200);
      cam.defer(() => clearInterval(tick));
    }
    const extra = method === "DESCRIBE"
      ? `Content-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`
      : method === "SETUP"
      ? "Session: 77;timeout=10\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
      : "Session: 77\r\n\r\n";
    return `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra}`;
  });
  return { port: cam.port, seen, close: () => cam.close() };
}

Deno.test("RTSP client: an unanswered keep-alive ends the session, unless reading was held meanwhile", async () => {
  const cam = silentKeepAliveCamera();
  try {
    const start = async (hold?: () => Promise<void> | null) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: cam.port });
      const client = new RtspClient(conn, {
        url: `rtsp://127.0.0.1:${cam.port}/cam`,
        credentials: () => Promise.resolve(null),
        onRtp: () => {},
        responseTimeoutMs: 500,
        ...(hold ? { hold } : {}),
      });
      await client.start();
      let ended = false;
      client.ended.then(() => ended = true);
      return { client, ended: () => ended };
    };
    // Held from after PLAY until 6 s: past the keep-alive (at 5 s) and its time limit (5.5 s).
    let release!: () => void;
    const held = new Promise<void>((r) => release = r);
    let holding = false;
    const slow = await start(() => holding ? held : null);
    const plain = await start();
    holding = true;
    await new Promise((r) => setTimeout(r, 6_000));
    assertEquals(cam.seen.filter((m) => m === "GET_PARAMETER").length, 2, "a keep-alive each");
    assert(plain.ended(), "the camera that does not answer is gone");
    assertEquals(slow.ended(), false, "the held session is kept");
    holding = false;
    release();
    await new Promise((r) => setTimeout(r, 100));
    assertEquals(slow.ended(), false, "and reads on");
    slow.client.close();
    await slow.client.ended;
  } finally {
    cam.close();
  }
});

/**
 * A camera in memory: `answer` gives the reply to each request's head, or null to close the
 * connection instead; every write after the first `writes` fails as a closed tunnel's does.
 */
function memoryCamera(answer: (head: string) => string | null, writes = Infinity): ByteStream {
  const queue: Uint8Array[] = [];
  let ended = false;
  let wake: (() => void) | null = null;
  let written = 0;
  const end = () => {
    ended = true;
    wake?.();
  };
  return {
    async read(p) {
      while (!queue.length && !ended) await new Promise<void>((r) => wake = r);
      const next = queue.shift();
      if (!next) return null;
      p.set(next);
      return next.length;
    },
    write(p) {
      if (ended || ++written > writes) {
        return Promise.reject(new Deno.errors.BadResource("stream closed"));
      }
      const reply = answer(new TextDecoder().decode(p));
      if (reply === null) end();
      else {
        queue.push(new TextEncoder().encode(reply));
        wake?.();
      }
      return Promise.resolve(p.length);
    },
    closeWrite: () => Promise.resolve(),
    close: end,
  };
}

/** The answer to DESCRIBE: the one-track SDP above. */
function described(head: string): string {
  const cseq = /CSeq: (\d+)/i.exec(head)?.[1];
  return `RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\nContent-Type: application/sdp\r\n` +
    `Content-Length: ${SDP.length}\r\n\r\n${SDP}`;
}

Deno.test("RTSP client: a camera that closes the connection is a refusal in words, and leaves no wait behind", async () => {
  // Found by `deno task fuzz --target camera`: a tunnel closed under the client failed the next
  // write with the runtime's BadResource (the live view then answered 500, logged as an ERROR),
  // and the wait for that request's answer rejected 15 s later with no one listening (an
  // unhandled rejection, another ERROR).
  for (
    const [what, stream] of [
      ["closed before SETUP was written", memoryCamera(described, 1)],
      ["closed instead of answering DESCRIBE", memoryCamera(() => null)],
      [
        "closed instead of answering SETUP",
        memoryCamera((h) => h.startsWith("DESCRIBE") ? described(h) : null),
      ],
    ] as const
  ) {
    const client = new RtspClient(stream, {
      url: "rtsp://cam/s",
      credentials: () => Promise.resolve(null),
      onRtp: () => {},
      responseTimeoutMs: 50,
    });
    const err = await client.start().then(() => null, (e) => e);
    assert(err instanceof AppError, `${what}: ${err}`);
    assertEquals([err.code, err.message], [
      "camera_refused",
      "the camera closed the RTSP connection",
    ], what);
    client.close(); // as its owner does (camera_feed.ts)
    await client.ended;
    // Past the answer's time limit: a wait left behind would reject now, unhandled.
    await new Promise((r) => setTimeout(r, 150));
  }
});
