/**
 * A light RTSP player for the bench: DESCRIBE, SETUP (RTP interleaved over the RTSP connection,
 * as every path of the product carries it), PLAY, then it reads the `$` frames and hands each RTP
 * packet to an {@link RtpH264Check} — counting bytes, frames and anything a decoder would choke
 * on, without decoding. A hundred of them in the bench process cost a fraction of one core, where
 * a hundred ffmpeg decoders at 2 Mbit/s would need more than the machine has. Credentials in the
 * URL go up front as Basic auth (the gateway's token form). PLAY carries no Range (see there).
 * @module
 */
import { RtpH264Check } from "./rtp_check.ts";

const CRLF2 = [13, 10, 13, 10];

/** One RTSP response. */
interface Response {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** A playing RTSP stream whose packets are being checked. */
export class RtspPlayer {
  /** The stream's checker (its `counts` are live). */
  readonly check = new RtpH264Check();
  /** Resolves when the connection ends; `error` says why, when it was not {@link close}. */
  readonly ended: Promise<void>;
  /** Why the stream ended, if not closed by us. */
  error: string | null = null;
  #conn: Deno.Conn;
  #buf = new Uint8Array(256 * 1024);
  #start = 0;
  #end = 0;
  #closed = false;
  #resolveEnded!: () => void;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.ended = new Promise((r) => (this.#resolveEnded = r));
  }

  /** Connects to `url` (`rtsp://[user:pass@]host:port/path`) and starts playing. */
  static async play(url: string, timeoutMs = 30_000): Promise<RtspPlayer> {
    const u = new URL(url);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port || 554) });
    conn.setNoDelay(true);
    const player = new RtspPlayer(conn);
    const timer = setTimeout(() => player.close(), timeoutMs);
    try {
      await player.#handshake(u);
    } catch (e) {
      player.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    player.#pump().catch((e) => {
      if (!player.#closed) player.error ??= String(e?.message ?? e);
    }).finally(() => {
      player.#closed = true;
      player.#resolveEnded();
    });
    return player;
  }

  /** Stops the stream (closes the connection). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* closed */ }
  }

  async #handshake(u: URL): Promise<void> {
    const base = `rtsp://${u.host}${u.pathname}${u.search}`;
    const auth = u.username || u.password
      ? `Basic ${btoa(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`)}`
      : null;
    let cseq = 0;
    const request = async (method: string, uri: string, extra: string[] = []) => {
      const lines = [`${method} ${uri} RTSP/1.0`, `CSeq: ${++cseq}`, "User-Agent: nc-bench"];
      if (auth) lines.push(`Authorization: ${auth}`);
      const text = [...lines, ...extra, "", ""].join("\r\n");
      await writeAll(this.#conn, new TextEncoder().encode(text));
      const res = await this.#response();
      if (res.status !== 200) throw new Error(`${method} answered ${res.status}`);
      return res;
    };
    const described = await request("DESCRIBE", base, ["Accept: application/sdp"]);
    const contentBase = described.headers.get("content-base") ?? `${base}/`;
    const control = /^a=control:(.+)$/m.exec(
      described.body.slice(described.body.search(/^m=video/m)),
    )?.[1].trim();
    if (!control) throw new Error("no video track in the SDP");
    const trackUri = /^rtsp:\/\//i.test(control)
      ? control
      : contentBase.replace(/\/?$/, "/") + control;
    const setup = await request("SETUP", trackUri, [
      "Transport: RTP/AVP/TCP;unicast;interleaved=0-1",
    ]);
    const session = setup.headers.get("session")?.split(";")[0];
    if (!session) throw new Error("SETUP answered without a Session");
    // No Range: on a Range, GStreamer's RTSP server seeks the shared live pipeline, and every
    // client already playing that camera loses a packet and sees its timestamps jump back.
    await request("PLAY", contentBase, [`Session: ${session}`]);
  }

  /** Reads until `n` bytes are buffered; false at end of stream. */
  async #need(n: number): Promise<boolean> {
    while (this.#end - this.#start < n) {
      if (this.#start > 0 && this.#buf.length - this.#end < 65_540) {
        this.#buf.copyWithin(0, this.#start, this.#end);
        this.#end -= this.#start;
        this.#start = 0;
      }
      if (this.#end === this.#buf.length) throw new Error("message larger than the buffer");
      const got = await this.#conn.read(this.#buf.subarray(this.#end));
      if (got === null) return false;
      this.#end += got;
    }
    return true;
  }

  /** Reads one RTSP message (status line, headers, Content-Length body). */
  async #response(): Promise<Response> {
    // The server may start sending media before it answers PLAY: take those frames first.
    while (await this.#frameAhead());
    let at: number;
    while ((at = indexOf(this.#buf, CRLF2, this.#start, this.#end)) < 0) {
      if (!(await this.#need(this.#end - this.#start + 1))) {
        throw new Error("connection closed mid-response");
      }
    }
    const head = new TextDecoder().decode(this.#buf.subarray(this.#start, at)).split("\r\n");
    this.#start = at + 4;
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    const length = Number(headers.get("content-length") ?? 0);
    if (!(await this.#need(length))) throw new Error("connection closed mid-body");
    const body = new TextDecoder().decode(this.#buf.subarray(this.#start, this.#start + length));
    this.#start += length;
    const status = Number(/^RTSP\/1\.0 (\d{3})/.exec(head[0])?.[1] ?? 0);
    return { status, headers, body };
  }

  /**
   * When the next byte is a `$` frame: reads it, hands an RTP packet (channel 0) to the checker and
   * says true; false when an RTSP message comes next.
   */
  async #frameAhead(): Promise<boolean> {
    if (!(await this.#need(1))) throw new Error("connection closed");
    if (this.#buf[this.#start] !== 0x24) return false;
    if (!(await this.#need(4))) throw new Error("connection closed mid-frame");
    const channel = this.#buf[this.#start + 1];
    const length = (this.#buf[this.#start + 2] << 8) | this.#buf[this.#start + 3];
    if (!(await this.#need(4 + length))) throw new Error("connection closed mid-frame");
    if (channel === 0) {
      this.check.packet(this.#buf.subarray(this.#start + 4, this.#start + 4 + length));
    }
    this.#start += 4 + length;
    return true;
  }

  /** After PLAY: `$` channel length16 packet …, with the odd RTSP message in between. */
  async #pump(): Promise<void> {
    while (!this.#closed) {
      if (!(await this.#need(1))) {
        if (!this.#closed) this.error ??= "the server closed the connection";
        return;
      }
      // Not a frame: a server request or a late answer, not media.
      if (!(await this.#frameAhead())) await this.#response();
    }
  }
}

function indexOf(hay: Uint8Array, needle: number[], from: number, to: number): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}
