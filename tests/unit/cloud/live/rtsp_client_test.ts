// The live view's RTSP client against a camera that stops answering its keep-alives (a loopback
// server speaking RTSP by hand: DESCRIBE, SETUP with a 10 s session timeout, PLAY, then silence
// to every GET_PARAMETER, a packet every 200 ms). Without a hold, an unanswered keep-alive ends the session: the camera
// is gone. While its owner holds reading (a clip's slow download), the keep-alive's answer may be
// waiting behind the held bytes: the session is kept, and reads on once the hold ends.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { RtspClient } from "../../../../src/cloud/live/rtsp_client.ts";

const SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\n" +
  "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n";

/** A camera on loopback that answers everything but GET_PARAMETER; its port and methods seen. */
function silentKeepAliveCamera() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen: string[] = [];
  const conns: Deno.Conn[] = [];
  const ticks: ReturnType<typeof setInterval>[] = [];
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(16 << 10);
        let text = "";
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) return;
          text += new TextDecoder().decode(buf.subarray(0, n));
          for (let end; (end = text.indexOf("\r\n\r\n")) >= 0;) {
            const head = text.slice(0, end);
            text = text.slice(end + 4);
            const method = head.split(" ")[0];
            seen.push(method);
            if (method === "GET_PARAMETER") continue;
            const cseq = /CSeq: (\d+)/i.exec(head)?.[1];
            const extra = method === "DESCRIBE"
              ? `Content-Type: application/sdp\r\nContent-Length: ${SDP.length}\r\n\r\n${SDP}`
              : method === "SETUP"
              ? "Session: 77;timeout=10\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
              : "Session: 77\r\n\r\n";
            await conn.write(
              new TextEncoder().encode(`RTSP/1.0 200 OK\r\nCSeq: ${cseq}\r\n${extra}`),
            ).catch(() => {});
            // After PLAY, a picture's packet now and then (its payload empty): the reader wakes.
            if (method === "PLAY") {
              const rtp = new Uint8Array([0x24, 0, 0, 12, 0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
              const tick = setInterval(() => conn.write(rtp).catch(() => clearInterval(tick)), 200);
              ticks.push(tick);
            }
          }
        }
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    seen,
    close() {
      for (const t of ticks) clearInterval(t);
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
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
