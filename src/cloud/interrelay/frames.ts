/**
 * The framed byte stream of a BridgeTunnel (schema: proto/bridge.md) over one node:tls mTLS
 * connection between two cloud nodes, exposed as a `Deno.Conn` so the same byte pump, WebSocket
 * bridge, proxy and RTSP code that handle an agent's data connection handle a bridged one.
 *
 * Why frames and credit instead of raw bytes after a header (as the agent data plane does): the
 * internal listener must request client certificates (mTLS on the internal CA), which only
 * node:tls does on Deno 2.9, and a paused node:tls socket keeps reading into a native buffer and
 * can lose the peer's end of stream. So end of stream is an explicit END frame, and backpressure
 * is a credit window: a sender never has more than WINDOW bytes unread by the receiving pump, and
 * the receiver grants more only as its consumer takes them. A peer that overruns the window is
 * cut off.
 * @module
 */
import type { TLSSocket } from "node:tls";
import { Buffer } from "node:buffer";

/** Frame types (one byte), then a 4-byte big-endian payload length, then the payload. */
export const FrameType = {
  /** JSON request (entry node → owner), first frame of a connection. */
  OPEN: 1,
  /** JSON answer (owner → entry node). */
  RESULT: 2,
  /** Tunnel bytes. */
  DATA: 3,
  /** The sender will send no more DATA (TCP half-close). */
  END: 4,
  /** 4-byte big-endian count of bytes the receiver consumed: the sender may send that many more. */
  CREDIT: 5,
} as const;

/**
 * Bytes a sender may have in flight before the receiver grants more: also the most a stalled
 * reader makes a node hold per bridged tunnel and direction. 1 MiB and 4 MiB measured the same
 * on loopback (within the noise of a shared machine); 1 MiB still covers 8 Gbit/s at 1 ms RTT.
 */
export const WINDOW = 1 << 20;
/** Largest DATA payload. */
export const MAX_DATA = 64 << 10;
const HEADER = 5;
/** Largest OPEN (and CREDIT, END) payload. */
const MAX_CONTROL = 16 << 10;
/**
 * Largest RESULT payload: a discovery's RESULT carries the agent's whole DiscoveryResult, which
 * the agent caps at 512 KiB of devices (agent/discovery/probe.ts), hundreds of cameras; 16 KiB
 * held about forty.
 */
export const MAX_RESULT = 1 << 20;

/** Bytes counted as they cross (for metrics). */
export type ByteCounter = (sent: number, received: number) => void;

/** A Deno.Conn carried by frames over a node:tls socket. */
export class FramedConn implements Deno.Conn {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  #socket: TLSSocket;
  #header = new Uint8Array(HEADER);
  #headerHave = 0;
  /** Bytes of the current frame's body still to come; -1 while reading a header. */
  #bodyLeft = -1;
  #type = 0;
  /** The current non-DATA frame's body being gathered. */
  #body: Uint8Array | null = null;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #eof = false;
  #error: Error | null = null;
  #closed = false;
  #sentEnd = false;
  #credit = WINDOW;
  #consumed = 0;
  #wakeReader: (() => void) | null = null;
  #wakeWriter: (() => void) | null = null;
  #controls: Array<{ type: number; body: unknown }> = [];
  #wakeControl: (() => void) | null = null;
  #count: ByteCounter;
  #readable?: ReadableStream<Uint8Array<ArrayBuffer>>;
  #writable?: WritableStream<Uint8Array<ArrayBufferLike>>;

  /** Wraps a connected (handshaken) TLS socket. */
  constructor(socket: TLSSocket, count: ByteCounter = () => {}) {
    this.#socket = socket;
    this.#count = count;
    const addr = (a: string | undefined, p: number | undefined): Deno.NetAddr => ({
      transport: "tcp",
      hostname: a ?? "",
      port: p ?? 0,
    });
    this.localAddr = addr(socket.localAddress, socket.localPort);
    this.remoteAddr = addr(socket.remoteAddress, socket.remotePort);
    socket.on("data", (chunk: Buffer) => this.#onData(new Uint8Array(chunk)));
    socket.on("end", () => this.#fail(null));
    socket.on("close", () => this.#fail(null));
    socket.on("error", (e: Error) => this.#fail(e));
    socket.on("drain", () => this.#wake());
  }

  /** The next OPEN/RESULT frame, parsed as JSON; rejects when the connection ends first. */
  async control(timeoutMs: number): Promise<{ type: number; body: unknown }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#controls.length) {
      if (this.#queue.length) throw new Error("bridge peer sent DATA before OPEN/RESULT");
      if (this.#closed || this.#error || this.#eof) {
        throw this.#error ?? new Error("bridge connection closed");
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("bridge peer did not answer in time");
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wakeControl = () => {
          clearTimeout(t);
          r();
        };
      });
      this.#wakeControl = null;
    }
    return this.#controls.shift()!;
  }

  /** Sends an OPEN or RESULT frame with a JSON body. */
  sendControl(type: number, body: unknown): void {
    this.#frame(type, new TextEncoder().encode(JSON.stringify(body)));
  }

  /** Reads tunnel bytes; null at the peer's END. */
  async read(p: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) throw new Deno.errors.BadResource("bridge connection closed");
      if (this.#queue.length) {
        const head = this.#queue[0];
        const n = Math.min(p.byteLength, head.byteLength);
        p.set(head.subarray(0, n));
        if (n === head.byteLength) this.#queue.shift();
        else this.#queue[0] = head.subarray(n);
        this.#queued -= n;
        this.#consumed += n;
        if (this.#consumed >= WINDOW / 4 && !this.#socket.destroyed) {
          const c = new Uint8Array(4);
          new DataView(c.buffer).setUint32(0, this.#consumed);
          this.#consumed = 0;
          this.#frame(FrameType.CREDIT, c);
        }
        return n;
      }
      if (this.#eof) return null;
      if (this.#error) throw this.#error;
      await new Promise<void>((r) => this.#wakeReader = r);
      this.#wakeReader = null;
    }
  }

  /** Writes up to the granted credit; waits for credit and for the socket to drain. */
  async write(p: Uint8Array): Promise<number> {
    for (;;) {
      if (this.#closed) throw new Deno.errors.BadResource("bridge connection closed");
      if (this.#error || this.#socket.destroyed) {
        throw this.#error ?? new Deno.errors.BrokenPipe("bridge connection closed");
      }
      if (this.#sentEnd) throw new Deno.errors.BrokenPipe("bridge write side closed");
      if (this.#credit > 0 && !this.#socket.writableNeedDrain) break;
      await new Promise<void>((r) => this.#wakeWriter = r);
      this.#wakeWriter = null;
    }
    const n = Math.min(p.byteLength, this.#credit, MAX_DATA);
    this.#credit -= n;
    this.#frame(FrameType.DATA, p.subarray(0, n));
    this.#count(n, 0);
    return n;
  }

  /** Sends END: the peer reads EOF after what was sent. */
  closeWrite(): Promise<void> {
    if (!this.#sentEnd && !this.#closed && !this.#socket.destroyed) {
      this.#sentEnd = true;
      this.#frame(FrameType.END, new Uint8Array(0));
    }
    return Promise.resolve();
  }

  /**
   * Closes the connection both ways. Frames already written (the last DATA, END) are still
   * delivered — destroying the socket at once drops what node:tls has not flushed yet — so it
   * ends the TLS stream (the peer, not half-open, ends its side and the socket closes) and
   * destroys it only if that takes more than 5 s.
   */
  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("bridge connection closed");
    this.#closed = true;
    const s = this.#socket;
    if (!s.destroyed) {
      const t = setTimeout(() => s.destroy(), 5_000);
      s.once("close", () => clearTimeout(t));
      s.end();
    }
    this.#wake();
  }

  /** Whether close() was called or the connection died. */
  get isClosed(): boolean {
    return this.#closed || this.#socket.destroyed;
  }

  /** Kept for the Deno.Conn shape; the socket never holds the event loop open by itself. */
  ref(): void {}
  /** Kept for the Deno.Conn shape. */
  unref(): void {}

  /** The read side as a stream. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull: async (c) => {
        const buf = new Uint8Array(MAX_DATA);
        const n = await this.read(buf);
        if (n === null) c.close();
        else c.enqueue(buf.subarray(0, n));
      },
    });
  }

  /** The write side as a stream. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#writable ??= new WritableStream<Uint8Array<ArrayBufferLike>>({
      write: async (chunk) => {
        let off = 0;
        while (off < chunk.byteLength) off += await this.write(chunk.subarray(off));
      },
      close: () => this.closeWrite(),
    });
  }

  /** Closes (Disposable). */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }

  #frame(type: number, payload: Uint8Array): void {
    // Nothing more goes out once the stream was ended or destroyed (a late CREDIT, say).
    if (this.#socket.destroyed || this.#socket.writableEnded) return;
    // One buffer per frame: node keeps a reference until flushed, and callers reuse theirs.
    const f = Buffer.allocUnsafe(HEADER + payload.byteLength);
    f[0] = type;
    f.writeUInt32BE(payload.byteLength, 1);
    f.set(payload, HEADER);
    this.#socket.write(f);
  }

  /**
   * Parses frames as bytes arrive. DATA payloads go to the read queue as views of the arriving
   * chunks (no reassembly, no copy: each chunk is a fresh buffer); only the 5-byte headers and
   * the small OPEN/RESULT/CREDIT bodies are gathered.
   */
  #onData(chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.byteLength && !this.#closed && !this.#error) {
      if (this.#bodyLeft < 0) {
        const n = Math.min(HEADER - this.#headerHave, chunk.byteLength - off);
        this.#header.set(chunk.subarray(off, off + n), this.#headerHave);
        this.#headerHave += n;
        off += n;
        if (this.#headerHave < HEADER) break;
        this.#headerHave = 0;
        this.#type = this.#header[0];
        const len = new DataView(this.#header.buffer).getUint32(1);
        const max = this.#type === FrameType.DATA
          ? MAX_DATA
          : this.#type === FrameType.RESULT
          ? MAX_RESULT
          : MAX_CONTROL;
        if (len > max) {
          this.#violation(`frame of ${len} bytes`);
          return;
        }
        this.#bodyLeft = len;
        this.#body = this.#type === FrameType.DATA ? null : new Uint8Array(len);
        if (this.#type === FrameType.DATA && this.#eof) {
          this.#violation("data after end");
          return;
        }
      }
      const n = Math.min(this.#bodyLeft, chunk.byteLength - off);
      if (this.#body) {
        this.#body.set(chunk.subarray(off, off + n), this.#body.byteLength - this.#bodyLeft);
      } else if (n > 0) {
        this.#queue.push(chunk.subarray(off, off + n));
        this.#queued += n;
        this.#count(0, n);
        if (this.#queued > WINDOW) {
          this.#violation("peer ignored the credit window");
          return;
        }
      }
      off += n;
      this.#bodyLeft -= n;
      if (this.#bodyLeft === 0) {
        this.#bodyLeft = -1;
        if (this.#body && !this.#onFrame(this.#type, this.#body)) return;
        this.#body = null;
      }
    }
    this.#wake();
  }

  #onFrame(type: number, payload: Uint8Array): boolean {
    switch (type) {
      case FrameType.END:
        this.#eof = true;
        return true;
      case FrameType.CREDIT:
        if (payload.byteLength !== 4) return this.#violation("bad credit frame");
        this.#credit += new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
        return true;
      case FrameType.OPEN:
      case FrameType.RESULT:
        try {
          this.#controls.push({ type, body: JSON.parse(new TextDecoder().decode(payload)) });
        } catch {
          return this.#violation("control frame is not JSON");
        }
        this.#wakeControl?.();
        return true;
      default:
        return this.#violation(`unknown frame type ${type}`);
    }
  }

  #violation(why: string): false {
    this.#fail(new Error(`bridge protocol violation: ${why}`));
    this.#socket.destroy();
    return false;
  }

  #fail(e: Error | null): void {
    if (e) this.#error ??= e;
    else if (!this.#eof) this.#error ??= new Deno.errors.ConnectionReset("bridge connection lost");
    this.#wake();
  }

  #wake(): void {
    this.#wakeReader?.();
    this.#wakeWriter?.();
    this.#wakeControl?.();
  }
}
