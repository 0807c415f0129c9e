/**
 * A camera speaking RTSP by hand on loopback, for the tests of the live view's RTSP client that
 * need exact bytes no real camera (GStreamer's) sends on cue: a session timeout, an unanswered
 * keep-alive, RTP-Info in the same write as the first packets, a refused sound track. Each
 * request's head goes to `answer`, whose bytes are written back (none: the request goes
 * unanswered); everything it opened is closed with the camera.
 * @module
 */

/** One request as the camera read it. */
export interface HandRequest {
  method: string;
  uri: string;
  /** Its CSeq ("" when it has none). */
  cseq: string;
  /** The value of one of its headers, or "". */
  header(name: string): string;
  /** The connection it came on (to send packets after the answer). */
  conn: Deno.Conn;
}

/** A running hand camera. */
export interface HandCamera {
  port: number;
  /** Runs `fn` when the camera closes (a timer the answers started). */
  defer(fn: () => void): void;
  /** Stops accepting and closes every connection. */
  close(): void;
}

/** Starts a hand camera answering each request with `answer(request)`. */
export function handRtspCamera(
  answer: (r: HandRequest) => string | Uint8Array | null,
): HandCamera {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const deferred: (() => void)[] = [];
  const serve = async (conn: Deno.Conn) => {
    const buf = new Uint8Array(16 << 10);
    let text = "";
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      text += new TextDecoder().decode(buf.subarray(0, n));
      for (let end; (end = text.indexOf("\r\n\r\n")) >= 0;) {
        const head = text.slice(0, end);
        text = text.slice(end + 4);
        const [method = "", uri = ""] = head.split(" ");
        const header = (name: string) =>
          new RegExp(`^${name}:\\s*(.*)$`, "im").exec(head)?.[1].trim() ?? "";
        const out = answer({ method, uri, cseq: header("CSeq"), header, conn });
        if (out === null) continue;
        await conn.write(typeof out === "string" ? new TextEncoder().encode(out) : out)
          .catch(() => {});
      }
    }
  };
  (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      serve(conn);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    defer: (fn) => deferred.push(fn),
    close() {
      for (const fn of deferred) fn();
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}
