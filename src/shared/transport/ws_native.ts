/**
 * A WebSocket (RFC 6455 framing) over a Deno connection, without `node:http`, `ws` or Deno's
 * Node-compatibility sockets: the tunnel endpoints of the cloud (`/api/tunnel/{h}`, the CLI's
 * raw tunnel) and the CLI's own client use it. Why not `Deno.upgradeWebSocket`: that socket
 * cannot stop reading, and a tunnel must push back on a fast sender. Here the connection is read
 * only while the reader is not paused, so a stalled device stalls the operator's TCP sender.
 *
 * It offers the part of the `ws` library's surface the byte pump (`websocket.ts`) uses
 * (`send` with a completion callback, `pause`/`resume`, `close`, `terminate`, `message` /
 * `close` / `error` events, `readyState`), so the pump, the audit and every close reason stay
 * one code path for both kinds of socket.
 *
 * Hot path: one reused read buffer for frame heads and small payloads, a payload larger than
 * what is buffered is read straight into its own message buffer (one copy, by the kernel);
 * frames to send are batched into one reused output buffer and written with one write per
 * batch; an all-zero masking key (what the project's clients send over TLS or loopback, see
 * `src/tunnel/connect.ts`) skips the XOR.
 * @module
 */
import { createHash } from "node:crypto";
import type { ByteStream } from "./byte_stream.ts";
import { chunkPool } from "./buffer_pool.ts";

/** `readyState` values, as in the WebSocket API. */
export const WS_OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
}

/** Largest message accepted (the `ws` server of the cloud used the same); larger: close 1009. */
export const MAX_MESSAGE = 16 << 20;

/**
 * The read buffer starts small (an idle tunnel's pending read holds only this: a frame head and
 * a few bytes; a larger payload is read straight into its own buffer), grows while bulk flows
 * and shrinks back once reads are small again (SMALL_READS in a row).
 */
const READ_START = 64;
const SMALL_READS = 4;
const READ_MAX = 64 << 10;
/** Batches up to this size are written from one reused buffer, allocated at the first one. */
const OUT_BUF = 256 << 10;
/** Smaller batches get a buffer of their own size (an idle or interactive socket keeps none). */
const SMALL_BATCH = 16 << 10;
const EMPTY = new Uint8Array(0);
/** No frames in flight (shared: an idle socket allocates nothing for it). */
const NONE: readonly Outgoing[] = [];

/** The events the pump listens to. */
type Listener = (...args: never[]) => void;

/** Options of a framed WebSocket. */
export interface NativeWsOptions {
  /** "server": frames from the peer must be masked; "client": ours are (see `zeroMask`). */
  role: "server" | "client";
  /** Bytes already read from the connection after the handshake (the first frames). */
  head?: Uint8Array;
  /** Client role: mask with an all-zero key (over TLS or loopback), else a random key per frame. */
  zeroMask?: boolean;
  /** Largest message accepted; default MAX_MESSAGE. */
  maxMessage?: number;
}

interface Outgoing {
  opcode: number;
  data: Uint8Array;
  cb?: (err?: Error) => void;
}

/** A WebSocket over one Deno connection whose handshake is already done. */
export class NativeWebSocket {
  /** `readyState` of an open socket (the `ws` API names it on the instance). */
  readonly OPEN = WS_OPEN;
  /** CONNECTING (never: made after the handshake), OPEN, CLOSING or CLOSED. */
  readyState = WS_OPEN;
  /** Bytes handed to `send` and not yet written. */
  bufferedAmount = 0;
  /** The subprotocol the handshake selected ("" when none). */
  protocol = "";

  #conn: ByteStream;
  #role: "server" | "client";
  #zeroMask: boolean;
  #max: number;
  #listeners: Record<string, Listener[] | undefined> = {
    message: undefined,
    close: undefined,
    error: undefined,
  };
  #rbuf = new Uint8Array(READ_START);
  /** Reads in a row that used under an eighth of a grown buffer. */
  #smallReads = 0;
  #rstart = 0;
  #rend = 0;
  #paused = false;
  /** The parser stopped at a pause and waits for `resume` to run it again. */
  #parked = false;
  #queue: Outgoing[] = [];
  /** Frames taken from the queue whose write is under way (their callbacks still owed). */
  #inflight: readonly Outgoing[] = NONE;
  #writing = false;
  #out: Uint8Array | null = null;
  #closeSent = false;
  #closeReceived = false;
  #closed = false;
  #code = 1006;
  #reason: Uint8Array = EMPTY;
  #fragments: Uint8Array[] | null = null;
  #fragmentsBinary = true;
  #fragmentsLen = 0;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Messages read before a "message" listener was attached, in order. */
  #held: [Uint8Array, boolean][] | null = null;
  /** Reading stopped for held messages (not by `pause`). */
  #holdPaused = false;

  constructor(conn: ByteStream, opts: NativeWsOptions) {
    this.#conn = conn;
    this.#role = opts.role;
    this.#zeroMask = opts.zeroMask ?? false;
    this.#max = opts.maxMessage ?? MAX_MESSAGE;
    if (opts.head?.byteLength) {
      if (opts.head.byteLength > this.#rbuf.byteLength) this.#rbuf = new Uint8Array(opts.head);
      else this.#rbuf.set(opts.head);
      this.#rend = opts.head.byteLength;
    }
    // Listeners are attached by the caller in this same task: start reading after it.
    queueMicrotask(() => void this.#parse());
  }

  /** Adds a listener: "message" (data, isBinary), "close" (code, reason bytes), "error" (e). */
  on(event: string, f: (...args: never[]) => void): this {
    // Exact-size arrays: a pushed-to array keeps room for 16, and every idle tunnel has three.
    const l = this.#listeners[event];
    this.#listeners[event] = l ? [...l, f] : [f];
    if (event === "message" && this.#held) {
      // Messages that came before anyone listened (bytes read with the handshake): theirs now.
      queueMicrotask(() => {
        const held = this.#held ?? [];
        this.#held = null;
        for (const [data, binary] of held) this.#message(data, binary);
        // Read on, unless the listener paused in the meantime (its own backpressure).
        if (this.#holdPaused) this.resume();
      });
    }
    return this;
  }

  #emit(event: string, ...args: unknown[]): void {
    for (const f of this.#listeners[event] ?? []) {
      (f as (...a: unknown[]) => void)(...args);
    }
  }

  /** Stops reading the connection after the current frame (backpressure toward the peer). */
  pause(): void {
    this.#paused = true;
    this.#holdPaused = false;
  }

  /** Whether reading is paused (pause() without a resume() yet). */
  get paused(): boolean {
    return this.#paused;
  }

  /** Reads again. */
  resume(): void {
    this.#paused = false;
    this.#holdPaused = false;
    if (this.#parked) {
      this.#parked = false;
      void this.#parse();
    }
  }

  /** Queues a message; `cb` runs once it is written (or with the error that ended the socket). */
  send(data: Uint8Array, opts?: { binary?: boolean }, cb?: (err?: Error) => void): void {
    if (this.readyState !== WS_OPEN) {
      cb?.(new Error("WebSocket is not open"));
      return;
    }
    this.#enqueue({ opcode: opts?.binary === false ? 1 : 2, data, cb });
  }

  /** Starts the closing handshake (after every queued message); the peer's answer ends it. */
  close(code = 1000, reason = ""): void {
    if (this.readyState !== WS_OPEN) return;
    this.readyState = CLOSING;
    this.#sendClose(code, new TextEncoder().encode(reason));
    // A peer that never answers the close does not hold the connection.
    this.#closeTimer = setTimeout(() => this.terminate(), 10_000);
  }

  /** Ends the connection now (1006 to the listeners unless a close was exchanged). */
  terminate(): void {
    this.#finish();
  }

  #sendClose(code: number, reason: Uint8Array): void {
    const body = new Uint8Array(2 + reason.byteLength);
    body[0] = code >> 8;
    body[1] = code & 0xff;
    body.set(reason, 2);
    this.#enqueue({
      opcode: 8,
      data: body,
      cb: () => {
        this.#closeSent = true;
        if (this.#closeReceived) this.#finish();
      },
    });
  }

  #enqueue(o: Outgoing): void {
    this.bufferedAmount += o.data.byteLength;
    this.#queue.push(o);
    if (!this.#writing) this.#flush();
  }

  /** Writes queued frames in order, as many per write as fit the output buffer. */
  async #flush(): Promise<void> {
    this.#writing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const first = this.#queue[0];
        const firstSize = this.#headLen(first.data.byteLength) + first.data.byteLength;
        if (firstSize > OUT_BUF) {
          // Larger than the batch buffer: its head, then the payload as it is.
          this.#inflight = [this.#queue.shift()!];
          const head = new Uint8Array(14);
          const hl = this.#writeHead(head, 0, first.opcode, first.data.byteLength);
          await this.#writeAll(head.subarray(0, hl));
          await this.#writeAll(this.#masked(first.data, head, hl - 4));
          this.#sent();
          continue;
        }
        // How much goes in this batch.
        let total = 0;
        let count = 0;
        for (const o of this.#queue) {
          const size = this.#headLen(o.data.byteLength) + o.data.byteLength;
          if (total + size > OUT_BUF) break;
          total += size;
          count++;
        }
        const out = total <= SMALL_BATCH
          ? new Uint8Array(total)
          : (this.#out ??= new Uint8Array(OUT_BUF));
        const done = this.#inflight = this.#queue.splice(0, count);
        let used = 0;
        for (const o of done) {
          used = this.#writeHead(out, used, o.opcode, o.data.byteLength);
          out.set(o.data, used);
          if (this.#role === "client" && !this.#zeroMask) {
            xorMask(out.subarray(used, used + o.data.byteLength), out, used - 4);
          }
          used += o.data.byteLength;
        }
        await this.#writeAll(out.subarray(0, used));
        this.#sent();
      }
      // An emptied queue gives back its grown backing store (idle sockets are most sockets).
      if (this.#queue.length === 0) this.#queue = [];
    } catch (e) {
      this.#emit("error", e);
      this.#finish();
    } finally {
      this.#writing = false;
    }
  }

  /** The frames in flight were written: their callbacks run (once; `#finish` may have run them). */
  #sent(): void {
    const done = this.#inflight;
    this.#inflight = NONE;
    for (const o of done) {
      this.bufferedAmount -= o.data.byteLength;
      o.cb?.();
    }
  }

  /** A random-key client frame's payload, masked into a copy (the caller keeps its buffer). */
  #masked(data: Uint8Array, key: Uint8Array, at: number): Uint8Array {
    if (this.#role !== "client" || this.#zeroMask) return data;
    const copy = data.slice();
    xorMask(copy, key, at);
    return copy;
  }

  #headLen(len: number): number {
    return (len < 126 ? 2 : len < 65536 ? 4 : 10) + (this.#role === "client" ? 4 : 0);
  }

  /** Writes a frame head at `at`; returns where the payload starts. */
  #writeHead(buf: Uint8Array, at: number, opcode: number, len: number): number {
    return writeFrameHead(buf, at, opcode, len, this.#role === "client", this.#zeroMask);
  }

  async #writeAll(p: Uint8Array): Promise<void> {
    let off = 0;
    while (off < p.byteLength) off += await this.#conn.write(p.subarray(off));
  }

  /** Ensures `n` bytes are buffered from #rstart; false at the end of the stream. */
  async #fill(n: number): Promise<boolean> {
    while (this.#rend - this.#rstart < n) {
      if (this.#rstart > 0 && this.#rbuf.byteLength - this.#rstart < n) {
        this.#rbuf.copyWithin(0, this.#rstart, this.#rend);
        this.#rend -= this.#rstart;
        this.#rstart = 0;
      }
      const space = this.#rbuf.byteLength - this.#rend;
      const got = await this.#conn.read(this.#rbuf.subarray(this.#rend));
      if (got === null) return false;
      this.#afterRead(got, space);
    }
    return true;
  }

  /** Accounts a read of `got` bytes into `space`: grows the buffer when the read filled it. */
  #afterRead(got: number, space: number): void {
    this.#rend += got;
    if (got < this.#rbuf.byteLength >> 3) this.#smallReads++;
    else this.#smallReads = 0;
    if (got === space && this.#rbuf.byteLength < READ_MAX) {
      // Busy: a bigger buffer from now on.
      const bigger = new Uint8Array(Math.min(READ_MAX, this.#rbuf.byteLength * 4));
      bigger.set(this.#rbuf.subarray(this.#rstart, this.#rend));
      this.#rend -= this.#rstart;
      this.#rstart = 0;
      this.#rbuf = bigger;
    }
  }

  /**
   * Parses frames while bytes are buffered, reading more while a frame is incomplete; each whole
   * message is emitted in order. Once the buffer is empty it hands over to `#onIdleRead` and
   * returns, and while reading is paused it returns too (`resume` runs it again): a quiet socket
   * waits on one read with callbacks, not in a suspended async function — a node holds tens of
   * thousands of idle tunnels.
   */
  async #parse(): Promise<void> {
    try {
      while (!this.#closed) {
        if (this.#paused) {
          this.#parked = true;
          return;
        }
        if (this.#rstart === this.#rend) {
          this.#rstart = this.#rend = 0;
          // Quiet again after bulk: the pending read should not pin a large buffer.
          if (this.#smallReads >= SMALL_READS && this.#rbuf.byteLength > READ_START) {
            this.#rbuf = new Uint8Array(READ_START);
            this.#smallReads = 0;
          }
          this.#conn.read(this.#rbuf).then(this.#onIdleRead, this.#onReadError);
          return;
        }
        if (this.#rend - this.#rstart < 2 && !(await this.#fill(2))) break;
        const b0 = this.#rbuf[this.#rstart];
        const b1 = this.#rbuf[this.#rstart + 1];
        const fin = (b0 & 0x80) !== 0;
        const opcode = b0 & 0x0f;
        const masked = (b1 & 0x80) !== 0;
        const len7 = b1 & 0x7f;
        if (b0 & 0x70) return this.#fail(1002, "reserved bits set");
        if (masked !== (this.#role === "server")) {
          return this.#fail(
            1002,
            masked ? "server frames are not masked" : "frames must be masked",
          );
        }
        const hl = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
        if (this.#rend - this.#rstart < hl && !(await this.#fill(hl))) break;
        const h = this.#rbuf.subarray(this.#rstart, this.#rstart + hl);
        let len = len7;
        if (len7 === 126) len = (h[2] << 8) | h[3];
        else if (len7 === 127) {
          const hi = ((h[2] << 24) | (h[3] << 16) | (h[4] << 8) | h[5]) >>> 0;
          const lo = ((h[6] << 24) | (h[7] << 16) | (h[8] << 8) | h[9]) >>> 0;
          if (hi >= 1 << 21) return this.#fail(1009, "message too big");
          len = hi * 2 ** 32 + lo;
        }
        if (opcode & 0x8 && (len > 125 || !fin)) return this.#fail(1002, "bad control frame");
        const pending = this.#fragments ? this.#fragmentsLen : 0;
        if (len + pending > this.#max) return this.#fail(1009, "message too big");
        const key = masked ? h.slice(hl - 4, hl) : null;
        this.#rstart += hl;
        // Data frames' payloads come from the chunk pool; a relay hands them back once written.
        const payload = len === 0
          ? new Uint8Array(0)
          : opcode & 0x8
          ? new Uint8Array(len)
          : chunkPool.take(len);
        const have = Math.min(len, this.#rend - this.#rstart);
        payload.set(this.#rbuf.subarray(this.#rstart, this.#rstart + have));
        this.#rstart += have;
        for (let off = have; off < len;) {
          const got = await this.#conn.read(payload.subarray(off));
          if (got === null) return this.#finish();
          off += got;
        }
        if (key && (key[0] | key[1] | key[2] | key[3])) xorMask(payload, key, 0);
        this.#frame(fin, opcode, payload);
      }
    } catch (e) {
      if (!this.#closed) this.#emit("error", e);
    }
    this.#finish();
  }

  /** The next bytes of a quiet socket: parsed, or its end. */
  #onIdleRead = (got: number | null): void => {
    if (got === null) return this.#finish();
    this.#afterRead(got, this.#rbuf.byteLength);
    void this.#parse();
  };

  #onReadError = (e: unknown): void => {
    if (!this.#closed) this.#emit("error", e);
    this.#finish();
  };

  /** Acts on one frame. */
  #frame(fin: boolean, opcode: number, payload: Uint8Array): void {
    switch (opcode) {
      case 0: {
        if (!this.#fragments) return this.#fail(1002, "continuation without a message");
        this.#fragments.push(payload);
        this.#fragmentsLen += payload.byteLength;
        if (!fin) return;
        const whole = concat(this.#fragments, this.#fragmentsLen);
        const binary = this.#fragmentsBinary;
        this.#fragments = null;
        this.#fragmentsLen = 0;
        return this.#message(whole, binary);
      }
      case 1:
      case 2:
        if (this.#fragments) return this.#fail(1002, "a new message inside a fragmented one");
        if (fin) return this.#message(payload, opcode === 2);
        this.#fragments = [payload];
        this.#fragmentsLen = payload.byteLength;
        this.#fragmentsBinary = opcode === 2;
        return;
      case 8: {
        if (payload.byteLength === 1) return this.#fail(1002, "bad close frame");
        this.#closeReceived = true;
        this.#code = payload.byteLength >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        this.#reason = payload.subarray(2);
        if (this.readyState === WS_OPEN) {
          this.readyState = CLOSING;
          // Echo the peer's code; the connection ends once the echo is written.
          this.#sendClose(this.#code === 1005 ? 1000 : this.#code, EMPTY);
        } else if (this.#closeSent) this.#finish();
        return;
      }
      case 9:
        if (this.readyState === WS_OPEN) this.#enqueue({ opcode: 10, data: payload });
        return;
      case 10:
        return;
      default:
        return this.#fail(1002, "unknown opcode");
    }
  }

  #message(data: Uint8Array, binary: boolean): void {
    if (this.readyState === CLOSED) return;
    if (!this.#listeners.message) {
      // Nobody listens yet (a client's caller attaches its pump after the handshake returned,
      // and the peer's first frames may have come with the answer): keep them, read no more.
      (this.#held ??= []).push([data, binary]);
      this.#paused = this.#holdPaused = true;
      return;
    }
    this.#emit("message", data, binary);
  }

  /** A protocol violation by the peer: close with `code` and stop reading. */
  #fail(code: number, reason: string): void {
    this.#code = code;
    this.#reason = new TextEncoder().encode(reason);
    if (this.readyState === WS_OPEN) {
      this.readyState = CLOSING;
      this.#sendClose(code, this.#reason);
      this.#closeReceived = true; // do not wait for an answer from a peer that broke the rules
    } else this.#finish();
  }

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.readyState = CLOSED;
    clearTimeout(this.#closeTimer);
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    const err = new Error("WebSocket closed");
    // Every send's callback runs: those queued, and those whose write the close cut short.
    const inflight = this.#inflight;
    this.#inflight = NONE;
    for (const o of inflight) o.cb?.(err);
    for (const o of this.#queue.splice(0)) o.cb?.(err);
    this.resume();
    this.#emit("close", this.#code, this.#reason);
  }
}

/**
 * Writes a final frame's head at `at` of `buf` (room for 14 bytes); returns where the payload
 * starts. `masked` (a client's frame): a masking key follows, all zero with `zeroMask`.
 */
function writeFrameHead(
  buf: Uint8Array,
  at: number,
  opcode: number,
  len: number,
  masked: boolean,
  zeroMask: boolean,
): number {
  const mask = masked ? 0x80 : 0;
  buf[at++] = 0x80 | opcode;
  if (len < 126) buf[at++] = mask | len;
  else if (len < 65536) {
    buf[at++] = mask | 126;
    buf[at++] = len >> 8;
    buf[at++] = len & 0xff;
  } else {
    buf[at++] = mask | 127;
    const hi = Math.floor(len / 2 ** 32);
    const lo = len >>> 0;
    buf[at++] = 0;
    buf[at++] = 0;
    buf[at++] = (hi >> 8) & 0xff;
    buf[at++] = hi & 0xff;
    buf[at++] = lo >>> 24;
    buf[at++] = (lo >> 16) & 0xff;
    buf[at++] = (lo >> 8) & 0xff;
    buf[at++] = lo & 0xff;
  }
  if (mask) {
    if (zeroMask) buf.fill(0, at, at + 4);
    else crypto.getRandomValues(buf.subarray(at, at + 4));
    at += 4;
  }
  return at;
}

/**
 * One binary message as a client sends it (masked; with an all-zero key when `zeroMask`), head
 * and payload in one buffer: the cloud puts a client's early bytes (`early_data.ts`) ahead of
 * what it reads next, as if the client had sent them first.
 */
export function clientBinaryFrame(data: Uint8Array, zeroMask: boolean): Uint8Array {
  const out = new Uint8Array(14 + data.byteLength);
  const at = writeFrameHead(out, 0, 2, data.byteLength, true, zeroMask);
  out.set(data, at);
  if (!zeroMask) xorMask(out.subarray(at, at + data.byteLength), out, at - 4);
  return out.subarray(0, at + data.byteLength);
}

/** XORs `data` in place with the 4-byte key at `key[at..at+4]`. */
function xorMask(data: Uint8Array, key: Uint8Array, at: number): void {
  const k0 = key[at], k1 = key[at + 1], k2 = key[at + 2], k3 = key[at + 3];
  const n = data.byteLength;
  let i = 0;
  if (data.byteOffset % 4 === 0 && n >= 16) {
    const words = new Uint32Array(data.buffer, data.byteOffset, n >> 2);
    const k = new Uint32Array(new Uint8Array([k0, k1, k2, k3]).buffer)[0];
    for (let w = 0; w < words.length; w++) words[w] ^= k;
    i = words.length << 2;
  }
  for (; i < n; i++) {
    switch (i & 3) {
      case 0:
        data[i] ^= k0;
        break;
      case 1:
        data[i] ^= k1;
        break;
      case 2:
        data[i] ^= k2;
        break;
      default:
        data[i] ^= k3;
    }
  }
}

function concat(parts: Uint8Array[], len: number): Uint8Array {
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
