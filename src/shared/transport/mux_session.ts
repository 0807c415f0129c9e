/**
 * Many tunnels over one data connection (the framing is `protocol/mux.ts`). Each stream behaves
 * like a Deno connection — `read`, `write`, `closeWrite`, `close` — so the byte pumps
 * (`pipe.ts`, `websocket.ts`) and the cloud's access paths use a stream exactly as they used a
 * TLS connection of its own, and they never parse what they carry.
 *
 * Flow control is per stream and per direction: a sender may have at most the credit the
 * receiver granted in flight (INITIAL_WINDOW at open, topped up by WINDOW frames as the
 * receiver's reader consumes), so a receiver buffers at most one window per stream and one
 * stalled reader stops only its own sender. The connection reader never waits for a stream.
 * Toward a peer that allows it (`growWindows`), a stream whose reader consumes half its window
 * within one round trip doubles it, up to MAX_STREAM_WINDOW: one window would otherwise cap a
 * stream at window / round trip (256 KiB over 40 ms: 52 Mbit/s). Over a short link (SHORT_LINK_MS)
 * a stream keeps INITIAL_WINDOW, unless it is all the agent has open (on this connection and its
 * others): then it gets SOLO_WINDOW, as no other stream's frames queue behind its bytes, and fewer
 * top-ups cost both processes fewer wake-ups per byte. The round trip is the least of the last
 * RTT_SAMPLES PING/PONG times (one when the connection starts, one more as soon as the PING floor
 * allows, whether or not a stream asks, then at most one every RTT_REFRESH_MS; short until
 * RTT_SAMPLES_TO_GROW of them): the least, because a PING that waited behind bulk measures the
 * queue, and a window grown on that would grow the queue.
 *
 * Hot path: one reused read buffer per connection (a DATA payload is copied straight into the
 * waiting reader's buffer, or once into the stream's queue); frames from every stream are
 * batched into one of two reused output buffers and written with one TLS write per batch.
 * Anything the peer does outside the protocol (unknown frame or stream, credit overrun, window
 * overflow, oversize or empty frames) closes this connection and only its streams.
 * @module
 */
import {
  type CloseCodeName,
  decodeClose,
  decodeOpen,
  decodeWindow,
  encodeClose,
  encodeOpen,
  encodeWindow,
  FRAME_HEADER,
  FrameType,
  type FrameTypeValue,
  INITIAL_WINDOW,
  KEEPALIVE_MS,
  MAX_PAYLOAD,
  MAX_STREAM_WINDOW,
  MAX_WINDOW,
  ProtocolError,
  readHeader,
  writeHeader,
} from "../protocol/mux.ts";
import type { ByteStream } from "./byte_stream.ts";
import { chunkPool } from "./buffer_pool.ts";

export type { ByteStream };

/** A stream refused or failed by the peer (or lost with its connection). */
export class StreamError extends Error {
  /**
   * Creates the error with the CLOSE code and the reason the peer gave; `lost` when it was the
   * connection that ended under the stream (the peer never answered it).
   */
  constructor(readonly code: CloseCodeName, message: string, readonly lost = false) {
    super(message);
    this.name = "StreamError";
  }
}

/** Who this side is: the cloud opens streams, the agent accepts them. */
export type MuxRole = "cloud" | "agent";

/** Options of a session. */
export interface MuxSessionOptions {
  role: MuxRole;
  /** Agent side: a stream was opened by the cloud; answer with `accept()` or `refuse()`. */
  onOpen?: (stream: MuxStream, host: string, port: number) => void;
  /** The connection ended (why: "closed", the protocol violation, the I/O error). */
  onClose?: (reason: string) => void;
  /**
   * Bytes of output batched before writers wait for the connection (default 256 KiB while the
   * connection carries one stream, 64 KiB while it carries several).
   */
  outputHighWater?: number;
  /** The connection became busy with bulk (see BUSY_BYTES); called once per busy spell. */
  onBusy?: () => void;
  /** Silence before a PING (default KEEPALIVE_MS); dead after 3× that without any frame. */
  keepaliveMs?: number;
  /** The last open stream ended (the connection carries none now). */
  onIdle?: () => void;
  /**
   * Streams may grow the window they grant (see MAX_STREAM_WINDOW). Only toward a peer that
   * speaks control protocol 3: an older sender counts what exceeds INITIAL_WINDOW as nothing in
   * flight and would send its bulk in the urgent lane.
   */
  growWindows?: boolean;
  /** A stream's window grew (now `window` bytes): metrics count these. */
  onWindowGrown?: (window: number) => void;
  /** Round trips under this are a short link (default SHORT_LINK_MS; tests move it). */
  shortLinkMs?: number;
  /**
   * Streams open on the agent's other data connections (its pool's, on this side): a stream is
   * alone, and may have SOLO_WINDOW over a short link, only when this is 0 too. Default: none.
   */
  streamsElsewhere?: () => number;
  /**
   * Cloud side: how long an OPEN may go without any frame from the peer before a PING asks
   * whether it is there, and how long that PING may then go unanswered before the connection is
   * dead (default OPEN_PROBE_MS).
   */
  openProbeMs?: number;
}

/**
 * An OPEN followed by this long of silence from the agent gets a PING; as long again without
 * any frame and the connection is dead. An agent answers a PING at once whatever its devices do,
 * so a connection whose far end is gone (a process that died without its socket closing, a
 * network that went away) is found at the first open instead of after DEAD_AFTER_MS, and the
 * broker can still place the open on another connection within its deadline.
 */
export const OPEN_PROBE_MS = 5_000;

/** How old the round-trip sample may get before a stream that may grow its window asks again. */
export const RTT_REFRESH_MS = 10_000;
/** Round-trip samples kept; the least of them is the connection's round trip. */
export const RTT_SAMPLES = 6;
/**
 * Samples a link must have before it counts as long. The first PING goes out as the connection
 * starts, and when the processes at its ends are busy (a pool grown for bulk: the node asks for
 * a new connection exactly then) it can wait 10–20 ms on loopback: one sample saying so made a
 * loopback connection a long link until the next one, 10 s later, and its windows 4 MiB, in front
 * of a keystroke on it (README "Performance"). Until then a new sample is asked for as soon as
 * the PING floor allows, and the link counts as short.
 */
export const RTT_SAMPLES_TO_GROW = 2;
/**
 * A connection whose round trip is under this is a short link (loopback, a LAN, one data
 * centre), where windows do not grow: 256 KiB per round trip is over 400 Mbit/s there, and the
 * queue a grown window fills is the receiving process's own socket, in front of every other
 * stream (measured on loopback, README "Performance": bulk +15–30 %, but a keystroke beside bulk
 * waited 4–13 ms at p50 instead of 2–3).
 */
export const SHORT_LINK_MS = 5;

/**
 * The window a stream that is all its agent has open is granted over a short link (as `ssh`'s
 * channel window). A top-up then comes every 1 MiB instead of every 128 KiB: on loopback the relays
 * moved bulk 20–45 % faster at 20 % less CPU per byte (README "Performance", "Kept: a tunnel alone
 * gets 2 MiB"). With another stream open, the window is INITIAL_WINDOW again from the next top-up.
 */
export const SOLO_WINDOW = 2 << 20;

/** A connection that moves this many DATA bytes within BUSY_WINDOW_MS carries bulk. */
export const BUSY_BYTES = 4 << 20;
/** The window over which DATA bytes are counted for `busy`. */
export const BUSY_WINDOW_MS = 250;

const READ_BUFFER = 256 << 10;
/** The read buffer's size at first; it doubles (up to READ_BUFFER) whenever a read fills it. */
const READ_START = 16 << 10;
/** The output batch buffers' size at first (they grow as frames queue). */
const OUTPUT_START = 4 << 10;
const PING_PAYLOAD = new Uint8Array(8);
/** Output batched before writers wait, while the connection carries one stream: few writes. */
const HIGH_WATER_ALONE = 256 << 10;
/**
 * The same while it carries several: a frame that passes the bulk (the urgent lane) still waits
 * for the batch already being written, so that batch is kept small (measured over a 50 Mbit/s
 * link with 3 + 3 bulk streams: keystroke p50 85 ms with 256 KiB batches, 44 ms with 64 KiB).
 */
const HIGH_WATER_SHARED = 64 << 10;
/** A stream whose DATA in flight stays within this is interactive: its frames go first. */
export const URGENT_IN_FLIGHT = 16 << 10;
const EMPTY = new Uint8Array(0);

/** One lane of output: the batch being filled and a spare (the batch last written). */
interface Lane {
  cur: Uint8Array;
  spare: Uint8Array;
  len: number;
}

/**
 * Batches frames into reused buffers and writes them one batch at a time. Two lanes: urgent
 * frames (control frames, and DATA of streams with little in flight — keystrokes, requests)
 * go out at the head of the next batch, ahead of the bulk DATA queued meanwhile; so a small
 * frame waits for at most the batch being written, not for the bulk queued behind it. A stream
 * never overtakes itself: once one of its frames is in the bulk lane of the batch being
 * filled, its later frames of that batch go there too (`gen`).
 */
class FrameWriter {
  #conn: ByteStream;
  #bulk: Lane;
  #urgent: Lane = { cur: EMPTY, spare: EMPTY, len: 0 };
  #gen = 0;
  #writing = false;
  #high: () => number;
  #spaceWaiters: (() => void)[] = [];
  #failed: Error | null = null;
  #onError: (e: Error) => void;

  constructor(conn: ByteStream, high: () => number, onError: (e: Error) => void) {
    this.#conn = conn;
    this.#high = high;
    // Small at first, grown by `frame` as output queues: an idle connection (every agent holds
    // one) must not pin two batches' worth of memory (1 000 idle sessions held ~300 MiB of RSS).
    // The urgent lane is allocated at its first frame.
    this.#bulk = { cur: new Uint8Array(OUTPUT_START), spare: new Uint8Array(OUTPUT_START), len: 0 };
    this.#onError = onError;
  }

  /** The batch now being filled (it grows by one each time a batch is taken for writing). */
  get gen(): number {
    return this.#gen;
  }

  /** Resolves once a bulk DATA frame may be queued (the batch is below the high-water mark). */
  space(): Promise<void> | null {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#bulk.len < this.#high()) return null;
    return new Promise((resolve) => this.#spaceWaiters.push(resolve));
  }

  /**
   * Queues one frame (copying the payload); control frames may exceed the mark. An urgent frame
   * goes to the urgent lane only when there is something to pass (a connection that only idles
   * never allocates that lane), except OPEN, which always does: stream ids must reach the peer
   * in the order they were opened. Returns whether the frame went to the bulk lane.
   */
  frame(
    type: FrameTypeValue,
    stream: number,
    payload: Uint8Array = EMPTY,
    urgent = false,
  ): boolean {
    if (this.#failed) return false;
    const lane = urgent && (this.#bulk.len > 0 || type === FrameType.OPEN)
      ? this.#urgent
      : this.#bulk;
    const size = FRAME_HEADER + payload.byteLength;
    if (lane.len + size > lane.cur.byteLength) {
      const bigger = new Uint8Array(
        Math.max(lane.cur.byteLength * 2, lane.len + size, OUTPUT_START),
      );
      bigger.set(lane.cur.subarray(0, lane.len));
      lane.cur = bigger;
    }
    writeHeader(lane.cur, lane.len, type, stream, payload.byteLength);
    if (payload.byteLength) lane.cur.set(payload, lane.len + FRAME_HEADER);
    lane.len += size;
    if (!this.#writing) {
      this.#writing = true;
      // Frames queued in the same turn go out in one write.
      queueMicrotask(() => this.#flush());
    }
    return lane === this.#bulk;
  }

  /** Takes a lane's batch for writing (the next frames go to its spare buffer). */
  #take(lane: Lane): Uint8Array {
    const buf = lane.cur;
    const len = lane.len;
    lane.cur = lane.spare.byteLength >= buf.byteLength
      ? lane.spare
      : new Uint8Array(buf.byteLength);
    lane.spare = buf;
    lane.len = 0;
    return buf.subarray(0, len);
  }

  async #write(buf: Uint8Array): Promise<void> {
    let off = 0;
    while (off < buf.byteLength) off += await this.#conn.write(buf.subarray(off));
  }

  async #flush(): Promise<void> {
    try {
      while (this.#bulk.len > 0 || this.#urgent.len > 0) {
        const urgent = this.#urgent.len > 0 ? this.#take(this.#urgent) : EMPTY;
        const bulk = this.#bulk.len > 0 ? this.#take(this.#bulk) : EMPTY;
        this.#gen++;
        const waiters = this.#spaceWaiters;
        this.#spaceWaiters = [];
        for (const w of waiters) w();
        if (urgent.byteLength) await this.#write(urgent);
        if (bulk.byteLength) await this.#write(bulk);
      }
    } catch (e) {
      this.fail(e as Error);
    } finally {
      this.#writing = false;
    }
  }

  /** Stops writing; waiting writers fail. */
  fail(e: Error): void {
    if (this.#failed) return;
    this.#failed = e;
    this.#bulk.len = 0;
    this.#urgent.len = 0;
    const waiters = this.#spaceWaiters;
    this.#spaceWaiters = [];
    for (const w of waiters) w();
    this.#onError(e);
  }
}

function ignore(): void {}

/** A stream's pending read: into `buf`, or (`readChunk`, buf null) into a buffer of up to `max`. */
interface PendingRead {
  buf: Uint8Array | null;
  max: number;
  resolve: (v: never) => void;
  reject: (e: Error) => void;
}

/** A stream's flow state (MuxStream.flow): what a stall report shows. */
export interface MuxStreamFlow {
  /** Credit the peer granted and we have not used. */
  sendWindow: number;
  /** Credit we granted and the peer has not used. */
  recvWindow: number;
  /** Bytes received and not yet read. */
  queued: number;
  /** A read waits for DATA. */
  readPending: boolean;
  /** A write waits for a WINDOW. */
  creditPending: boolean;
  /** The peer's FIN arrived. */
  eof: boolean;
  /** The stream ended. */
  closed: boolean;
}

/** One tunnel on a data connection. */
export class MuxStream implements ByteStream {
  /** The stream id (unique within its connection). */
  readonly id: number;
  #s: MuxSession;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #reader: PendingRead | null = null;
  #eof = false;
  #error: Error | null = null;
  #localFin = false;
  #closed = false;
  /** The stream was ended on this side (close, a failure here), not by the peer. */
  #endedHere = false;
  /** Credit granted to the peer and not yet used (what we accept before the next WINDOW). */
  #recvWindow = INITIAL_WINDOW;
  /** Bytes consumed by our reader since the last WINDOW we sent. */
  #unacked = 0;
  /** The window we grant (INITIAL_WINDOW; doubled while the reader keeps up over a long link). */
  #window = INITIAL_WINDOW;
  /** When the current window's last top-up went out (or the stream began). */
  #epochStart = performance.now();
  /** Credit the peer granted us. */
  #sendWindow = INITIAL_WINDOW;
  /**
   * The most credit the peer ever left us at once: its window for this stream as we see it
   * (INITIAL_WINDOW unless it grew it), so what we have in flight is `#sendPeak - #sendWindow`.
   */
  #sendPeak = INITIAL_WINDOW;
  #creditWaiter: (() => void) | null = null;
  /** The writer's batch in whose bulk lane this stream last queued a frame. */
  #bulkGen = -1;
  /** Cloud side: settles when the agent answers OPENED or CLOSE. */
  opened: Promise<void>;
  #settleOpen!: (e: Error | null) => void;
  #isOpen: boolean;

  /** Created by the session only. */
  constructor(s: MuxSession, id: number, isOpen: boolean) {
    this.#s = s;
    this.id = id;
    this.#isOpen = isOpen;
    this.opened = new Promise<void>((resolve, reject) => {
      this.#settleOpen = (e) => {
        // Once settled, the stream keeps no closures of the open (idle streams are most).
        this.#settleOpen = ignore;
        if (e) reject(e);
        else resolve();
      };
    });
    this.opened.catch(ignore);
    if (isOpen) this.#settleOpen(null);
  }

  /** Bytes received and not yet read (at most one window). */
  get buffered(): number {
    return this.#queued;
  }

  /** Agent side: the device answered; bytes may flow. False when the cloud withdrew the open. */
  accept(): boolean {
    if (this.#closed) return false;
    this.#send(FrameType.OPENED, EMPTY, true);
    return true;
  }

  /** Agent side: refuse the open (the stream is then closed). */
  refuse(code: CloseCodeName, reason: string): void {
    this.#abort(code, reason);
  }

  /** Reads into `p`; null at the peer's end of stream. */
  read(p: Uint8Array): Promise<number | null> {
    if (this.#queued > 0) return Promise.resolve(this.#drain(p));
    return this.#wait(p, p.byteLength);
  }

  /**
   * The next bytes (at most `max`) in a buffer of their own; null at the peer's end of stream.
   * While it waits it holds no buffer (an idle tunnel's pending read costs only its promise).
   */
  readChunk(max: number): Promise<Uint8Array | null> {
    if (this.#queued > 0) return Promise.resolve(this.#take(max));
    return this.#wait(null, max);
  }

  /** With nothing queued: end of stream, the error, or a pending read the next DATA settles. */
  #wait<T>(buf: Uint8Array | null, max: number): Promise<T | null> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#eof || this.#closed) return Promise.resolve(null);
    if (this.#reader) return Promise.reject(new Error("concurrent read on a stream"));
    return new Promise((
      resolve,
      reject,
    ) => (this.#reader = { buf, max, resolve: resolve as never, reject }));
  }

  /** Queued bytes (at most `max`) in a new buffer; grants credit for them. */
  #take(max: number): Uint8Array {
    const head = this.#queue[0];
    // The common case: the first queued chunk is what is asked for, handed over as it is.
    if (head.byteLength <= max && (this.#queue.length === 1 || head.byteLength === max)) {
      this.#queue.shift();
      this.#queued -= head.byteLength;
      if (this.#queue.length === 0) this.#queue = [];
      this.#consumed(head.byteLength);
      return head;
    }
    const out = chunkPool.take(Math.min(max, this.#queued));
    this.#drain(out);
    return out;
  }

  /** Settles the pending reader with what was queued (or, for `read`, copied into its buffer). */
  #settleReader(r: PendingRead): void {
    if (r.buf) r.resolve(this.#drain(r.buf) as never);
    else r.resolve(this.#take(r.max) as never);
  }

  /** Writes up to `p.byteLength` bytes (as much as the peer's credit allows); returns how many. */
  async write(p: Uint8Array): Promise<number> {
    if (p.byteLength === 0) return 0;
    let n: number;
    let urgent: boolean;
    for (;;) {
      this.#checkWritable();
      if (this.#sendWindow > 0) {
        n = Math.min(p.byteLength, this.#sendWindow, MAX_PAYLOAD);
        // Little in flight (a keystroke, a request): it may pass the bulk queued meanwhile.
        urgent = this.#sendPeak - this.#sendWindow + n <= URGENT_IN_FLIGHT;
        if (urgent && this.#bulkGen !== this.#s.writer.gen) break;
        const wait = this.#s.writer.space();
        if (!wait) break;
        await wait;
        continue;
      }
      await new Promise<void>((resolve) => (this.#creditWaiter = resolve));
    }
    this.#sendWindow -= n;
    this.#send(FrameType.DATA, n === p.byteLength ? p : p.subarray(0, n), urgent);
    this.#s.account(n);
    return n;
  }

  /**
   * Queues one frame of this stream, in the urgent lane when asked and the stream has nothing
   * in the bulk lane of the batch being filled (its frames never overtake each other).
   */
  #send(type: FrameTypeValue, payload: Uint8Array, urgent: boolean): void {
    const w = this.#s.writer;
    if (w.frame(type, this.id, payload, urgent && this.#bulkGen !== w.gen)) this.#bulkGen = w.gen;
  }

  /** Cloud side, called by the session only: queues this stream's OPEN (its first frame). */
  sendOpen(host: string, port: number): void {
    this.#send(FrameType.OPEN, encodeOpen(host, port), true);
  }

  /** Half-close: the peer reads end of stream after what was written. */
  closeWrite(): Promise<void> {
    if (this.#localFin || this.#closed) return Promise.resolve();
    if (this.#error) return Promise.reject(this.#error);
    this.#localFin = true;
    this.#send(FrameType.FIN, EMPTY, true);
    return Promise.resolve();
  }

  /** Closes the stream both ways (the peer's reads end, its writes fail). */
  close(): void {
    this.#abort("normal", "closed");
  }

  /** Whether the peer closed the stream both ways (a CLOSE, not a FIN). */
  closedByPeer(): boolean {
    return this.#closed && !this.#endedHere;
  }

  #checkWritable(): void {
    if (this.#error) throw this.#error;
    if (this.#closed) throw new Deno.errors.BadResource("stream closed");
    if (this.#localFin) throw new Deno.errors.BrokenPipe("stream half-closed");
  }

  #abort(code: CloseCodeName, reason: string): void {
    if (this.#closed) return;
    this.#send(FrameType.CLOSE, encodeClose(code, reason), true);
    this.#end(new Deno.errors.Interrupted("stream closed"), true);
  }

  /** Copies queued bytes into `p`; grants credit for what was consumed. */
  #drain(p: Uint8Array): number {
    let n = 0;
    while (n < p.byteLength && this.#queue.length > 0) {
      const head = this.#queue[0];
      const take = Math.min(head.byteLength, p.byteLength - n);
      p.set(take === head.byteLength ? head : head.subarray(0, take), n);
      n += take;
      if (take === head.byteLength) {
        // A queued chunk is the stream's own copy: once read, its buffer can serve again.
        this.#queue.shift();
        chunkPool.give(head);
      } else this.#queue[0] = head.subarray(take);
    }
    this.#queued -= n;
    // An emptied queue gives back its grown backing store (idle streams are most streams).
    if (this.#queue.length === 0) this.#queue = [];
    this.#consumed(n);
    return n;
  }

  #consumed(n: number): void {
    if (this.#closed || this.#eof) return;
    this.#unacked += n;
    // Top up once half the window is free again: few WINDOW frames, the sender never runs dry.
    // What the peer may still send plus what waits for our reader is `#recvWindow + #queued`;
    // the top-up brings that back to the window (which may have grown, or shrunk: see #tune).
    if (this.#window - this.#recvWindow - this.#queued < this.#window / 2) return;
    if (this.#s.growsWindows) this.#tune();
    const inc = this.#window - this.#recvWindow - this.#queued;
    if (inc <= 0) return; // shrunk: nothing more until the reader is within the new window
    this.#recvWindow += inc;
    // In the bulk lane: WINDOW frames flow with bulk, and urgent ones would add a second write
    // to most batches of a bulk stream for no gain to interactive streams.
    this.#s.writer.frame(FrameType.WINDOW, this.id, encodeWindow(inc));
    this.#unacked = 0;
  }

  /**
   * At a top-up, where windows may grow: doubles the window when its reader consumed what this
   * top-up returns (about half the window) within one round trip — then the window is under twice
   * what the link holds, and the sender, not the reader, is what waits. Over a short link (a
   * round trip under SHORT_LINK_MS, or not yet RTT_SAMPLES_TO_GROW samples) the window is
   * SOLO_WINDOW while the stream is all the agent has open, else INITIAL_WINDOW (and back to it
   * if the link turns out short).
   */
  #tune(): void {
    const now = performance.now();
    const elapsed = now - this.#epochStart;
    this.#epochStart = now;
    const rtt = this.#s.roundTrip();
    if (rtt === null) return;
    if (rtt < this.#s.shortLinkMs || !this.#s.rttConfirmed) {
      const w = this.#s.alone ? SOLO_WINDOW : INITIAL_WINDOW;
      if (w > this.#window) this.#s.windowGrown(w);
      this.#window = w;
      return;
    }
    if (this.#window >= MAX_STREAM_WINDOW) return;
    if (elapsed * this.#window >= 2 * this.#unacked * rtt) return;
    this.#window = Math.min(2 * this.#window, MAX_STREAM_WINDOW);
    this.#s.windowGrown(this.#window);
  }

  /** The data connection this stream rides on. */
  get session(): MuxSession {
    return this.#s;
  }

  /** The window this side grants the stream now (INITIAL_WINDOW unless it grew). */
  get window(): number {
    return this.#window;
  }

  /**
   * Where this stream's flow stands, for diagnostics (a stalled transfer says which side waits
   * on what): credit each way, what waits for the reader, and who is waiting.
   */
  get flow(): MuxStreamFlow {
    return {
      sendWindow: this.#sendWindow,
      recvWindow: this.#recvWindow,
      queued: this.#queued,
      readPending: this.#reader !== null,
      creditPending: this.#creditWaiter !== null,
      eof: this.#eof,
      closed: this.#closed,
    };
  }

  /** Frames for this stream, from the session's reader. */
  onFrame(type: number, payload: Uint8Array): void {
    switch (type) {
      case FrameType.OPENED:
        if (this.#isOpen) throw new ProtocolError("OPENED twice");
        this.#isOpen = true;
        this.#settleOpen(null);
        return;
      case FrameType.DATA: {
        if (!this.#isOpen) throw new ProtocolError("DATA before OPENED");
        if (this.#eof) throw new ProtocolError("DATA after FIN");
        const len = payload.byteLength;
        if (len > this.#recvWindow) throw new ProtocolError("DATA beyond the granted credit");
        this.#recvWindow -= len;
        this.#s.account(len);
        const r = this.#reader;
        if (r && this.#queued === 0) {
          this.#reader = null;
          const take = Math.min(len, r.max);
          const part = take === len ? payload : payload.subarray(0, take);
          // The payload is a view of the connection's read buffer: copied once, either way.
          if (r.buf) r.buf.set(part);
          if (take < len) {
            this.#queue.push(chunkPool.copy(payload.subarray(take)));
            this.#queued += len - take;
          }
          this.#consumed(take);
          r.resolve((r.buf ? take : chunkPool.copy(part)) as never);
        } else {
          this.#queue.push(chunkPool.copy(payload));
          this.#queued += len;
        }
        return;
      }
      case FrameType.FIN:
        if (this.#eof) return;
        this.#eof = true;
        if (this.#reader && this.#queued === 0) {
          const r = this.#reader;
          this.#reader = null;
          r.resolve(null as never);
        }
        return;
      case FrameType.WINDOW: {
        const inc = decodeWindow(payload);
        if (this.#sendWindow + inc > MAX_WINDOW) throw new ProtocolError("window overflow");
        this.#sendWindow += inc;
        if (this.#sendWindow > this.#sendPeak) this.#sendPeak = this.#sendWindow;
        const w = this.#creditWaiter;
        this.#creditWaiter = null;
        w?.();
        return;
      }
      case FrameType.CLOSE: {
        const { code, reason } = decodeClose(payload);
        if (!this.#isOpen) {
          this.#end(new StreamError(code, reason || "refused"), false);
        } else if (code === "normal") {
          // Reads return what arrived, then end; writes fail.
          this.#eof = true;
          this.#end(null, false);
        } else {
          this.#end(new StreamError(code, reason), false);
        }
        return;
      }
      default:
        throw new ProtocolError(`unexpected frame type ${type} on a stream`);
    }
  }

  /** Ends the stream: pending and later reads/writes see `error` (or end of stream if null). */
  #end(error: Error | null, local: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#endedHere = local;
    this.#s.forget(this.id);
    if (error && !local) this.#error = error;
    if (local) {
      this.#queue = [];
      this.#queued = 0;
    }
    this.#settleOpen(error ?? new StreamError("normal", "closed"));
    const r = this.#reader;
    this.#reader = null;
    if (r) {
      if (this.#queued > 0) this.#settleReader(r);
      else if (error) r.reject(error);
      else r.resolve(null as never);
    }
    const w = this.#creditWaiter;
    this.#creditWaiter = null;
    w?.();
  }

  /** The connection ended under this stream. */
  lost(reason: string): void {
    this.#end(new StreamError("error", reason, true), false);
  }
}

/**
 * Streams open on the sessions of `pools` other than `self`: the `streamsElsewhere` of a session
 * that is one of several data connections to one agent (the cloud's pool and the agent's).
 */
export function streamsBeside(self: MuxSession, ...pools: Iterable<MuxSession>[]): number {
  let n = 0;
  for (const pool of pools) for (const c of pool) if (c !== self) n += c.streamCount;
  return n;
}

/** One data connection and the streams on it. */
export class MuxSession {
  /** The output side (frames from every stream, batched). */
  readonly writer: FrameWriter;
  #conn: ByteStream;
  #opts: MuxSessionOptions;
  #streams = new Map<number, MuxStream>();
  /** Highest stream id opened on this connection (ids only grow). */
  #maxId = 0;
  #closed = false;
  #closeReason = "";
  #busy = false;
  #windowStart = 0;
  #windowBytes = 0;
  /** When the last frame arrived (any frame proves the peer alive). */
  #lastHeard = performance.now();
  #heard = false;
  #lastPingAnswered = -Infinity;
  /** PINGs closer together than this are a flood (an honest peer sends one per quiet interval). */
  #pingFloor: number;
  #keepalive: ReturnType<typeof setInterval>;
  #lastPingSent = -Infinity;
  /** The probe after an OPEN (see OPEN_PROBE_MS), while one is running. */
  #probe: ReturnType<typeof setTimeout> | null = null;
  /** The last RTT_SAMPLES round trips in ms, oldest first; the least of them is the round trip. */
  #rttSamples: number[] = [];
  /** When the last round-trip sample came (or the last asking PING went out). */
  #rttAsked = -Infinity;
  /** The payload of the PING that asks for a round trip, while it is unanswered, and when it left. */
  #rttPing: { payload: Uint8Array; at: number } | null = null;
  /** Asks for the round-trip samples a long link needs, while it has too few (#confirmRoundTrip). */
  #confirming: ReturnType<typeof setTimeout> | null = null;
  /** Settles when the connection is gone, with the reason. */
  readonly done: Promise<string>;
  #resolveDone!: (r: string) => void;

  /** Starts reading `conn` (after its preface) as a mux connection. */
  constructor(conn: ByteStream, opts: MuxSessionOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.done = new Promise((r) => (this.#resolveDone = r));
    this.heardFirst = new Promise((r) => (this.#resolveHeard = r));
    this.writer = new FrameWriter(
      conn,
      // One stream alone: big batches, fewest writes. Several: small batches, so a frame that
      // passes the bulk (the urgent lane) waits for at most a small batch already being written.
      () => opts.outputHighWater ?? (this.#streams.size > 1 ? HIGH_WATER_SHARED : HIGH_WATER_ALONE),
      (e) => this.close(`data connection failed: ${e.message}`),
    );
    // Keepalive: a PING after a quiet interval keeps NAT mappings and proves the peer alive; a
    // connection that stays silent for three intervals is dead (its streams end, the pool
    // replaces it) rather than swallowing the next OPEN.
    const every = opts.keepaliveMs ?? KEEPALIVE_MS;
    this.#pingFloor = Math.min(1_000, every / 4);
    this.#keepalive = setInterval(() => {
      const quiet = performance.now() - this.#lastHeard;
      if (quiet >= 3 * every) this.close("data connection timed out (no answer to PING)");
      else if (quiet >= every && this.#pingAllowed()) this.#ping();
    }, Math.max(10, every / 2));
    Deno.unrefTimer(this.#keepalive);
    // The first round trip, while nothing else is on the connection (see roundTrip), and the
    // second as soon as the PING floor allows, so the first transfer finds the link confirmed.
    this.roundTrip();
    this.#confirmRoundTrip();
    this.#readLoop();
  }

  /** PINGs are never closer than twice the peer's flood floor (a probe and a keepalive one). */
  #pingAllowed(): boolean {
    return performance.now() - this.#lastPingSent > 2 * this.#pingFloor;
  }

  /**
   * Until the round trip has RTT_SAMPLES_TO_GROW samples, asks for one more each time the PING
   * floor allows, without waiting for a stream to ask: a connection is dialed ahead of its
   * tunnels, and its first transfer over a long link then grows its windows from the start
   * (asked by that transfer, the second sample came 2 s into it: 64 MiB over 40 ms moved at
   * 0.37 Gbit/s instead of 0.6).
   */
  #confirmRoundTrip(): void {
    if (!this.#opts.growWindows || this.#closed || this.rttConfirmed) return;
    this.#confirming = setTimeout(() => {
      this.#confirming = null;
      if (this.#closed || this.rttConfirmed) return;
      this.roundTrip();
      this.#confirmRoundTrip();
    }, 2 * this.#pingFloor + 10);
    Deno.unrefTimer(this.#confirming);
  }

  #ping(payload = PING_PAYLOAD): void {
    this.#lastPingSent = performance.now();
    this.writer.frame(FrameType.PING, 0, payload, true);
  }

  /** Whether any frame came from the peer yet. */
  get heard(): boolean {
    return this.#heard;
  }

  /** Resolves at the peer's first frame (never, if the connection ends first: race `done`). */
  readonly heardFirst: Promise<void>;
  #resolveHeard!: () => void;

  /** Whether streams may grow their windows on this connection (`growWindows`). */
  get growsWindows(): boolean {
    return this.#opts.growWindows === true;
  }

  /** A stream of this session grew its window to `window` bytes (`onWindowGrown`). */
  windowGrown(window: number): void {
    this.#opts.onWindowGrown?.(window);
  }

  /** Whether one stream is all the agent has open: on this connection, and none on the others. */
  get alone(): boolean {
    return this.#streams.size === 1 && (this.#opts.streamsElsewhere?.() ?? 0) === 0;
  }

  /** Whether the round trip has the samples to call the link long (RTT_SAMPLES_TO_GROW). */
  get rttConfirmed(): boolean {
    return this.#rttSamples.length >= RTT_SAMPLES_TO_GROW;
  }

  /** Round trips under this make the connection a short link (see SHORT_LINK_MS). */
  get shortLinkMs(): number {
    return this.#opts.shortLinkMs ?? SHORT_LINK_MS;
  }

  /**
   * The connection's round trip in ms (the least recent sample), for a stream deciding whether to
   * grow its window; null when windows do not grow here or no sample came yet. A sample older
   * than RTT_REFRESH_MS is refreshed with a PING (within the peer's PING floor, so a peer of any
   * version answers).
   */
  roundTrip(): number | null {
    if (!this.#opts.growWindows) return null;
    const now = performance.now();
    // (An asking PING unanswered that long is given up: a peer answers at most one per floor.)
    const refresh = this.rttConfirmed ? RTT_REFRESH_MS : 0;
    if (now - this.#rttAsked >= refresh && this.#pingAllowed()) {
      const payload = new Uint8Array(8);
      crypto.getRandomValues(payload);
      payload[0] |= 1; // never all zeros: keepalive PINGs carry zeros
      this.#rttPing = { payload, at: now };
      this.#rttAsked = now;
      this.#ping(payload);
    }
    return this.#rttSamples.length ? Math.min(...this.#rttSamples) : null;
  }

  /** A PONG arrived: when it answers the round-trip PING, its time is one more sample. */
  #pong(payload: Uint8Array): void {
    const p = this.#rttPing;
    if (!p || payload.byteLength !== 8) return;
    for (let i = 0; i < 8; i++) if (payload[i] !== p.payload[i]) return;
    this.#rttPing = null;
    this.#rttSamples.push(Math.max(0.01, performance.now() - p.at));
    if (this.#rttSamples.length > RTT_SAMPLES) this.#rttSamples.shift();
    this.#rttAsked = performance.now();
  }

  /** After an OPEN: the peer must show it is there (any frame) soon, or the connection is dead. */
  #expectAnswer(): void {
    if (this.#probe || this.#closed) return;
    const sent = performance.now();
    const ms = this.#opts.openProbeMs ?? OPEN_PROBE_MS;
    const heard = () => this.#closed || this.#lastHeard >= sent;
    this.#probe = setTimeout(() => {
      this.#probe = null;
      if (heard()) return;
      if (this.#pingAllowed()) this.#ping();
      this.#probe = setTimeout(() => {
        this.#probe = null;
        if (!heard()) this.close("data connection timed out (an open and a PING unanswered)");
      }, ms);
      Deno.unrefTimer(this.#probe);
    }, ms);
    Deno.unrefTimer(this.#probe);
  }

  /** Streams currently open on this connection. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /** Whether the connection is gone. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the connection carried bulk in its last full counting window (and still does). */
  get busy(): boolean {
    return this.#busy && performance.now() - this.#windowStart < 2 * BUSY_WINDOW_MS;
  }

  /** Counts DATA bytes either way; a window over BUSY_BYTES marks the connection busy. */
  account(n: number): void {
    this.#windowBytes += n;
    const now = performance.now();
    if (now - this.#windowStart < BUSY_WINDOW_MS) {
      if (!this.#busy && this.#windowBytes >= BUSY_BYTES) this.#becomeBusy();
      return;
    }
    const wasBusy = this.#busy && now - this.#windowStart < 2 * BUSY_WINDOW_MS;
    this.#busy = this.#windowBytes >= BUSY_BYTES;
    this.#windowStart = now;
    this.#windowBytes = 0;
    if (this.#busy && !wasBusy) this.#opts.onBusy?.();
  }

  #becomeBusy(): void {
    this.#busy = true;
    this.#opts.onBusy?.();
  }

  /**
   * Cloud side: opens a stream to (host, port) with one OPEN frame. Its `opened` settles when
   * the agent answers OPENED, or rejects with a StreamError carrying the agent's refusal code
   * (or the connection's end). Closing it before then withdraws the open.
   */
  openStream(host: string, port: number): MuxStream {
    if (this.#opts.role !== "cloud") throw new Error("only the cloud opens streams");
    if (this.#closed) throw new StreamError("error", this.#closeReason);
    const id = ++this.#maxId;
    const s = new MuxStream(this, id, false);
    this.#streams.set(id, s);
    s.sendOpen(host, port);
    this.#expectAnswer();
    return s;
  }

  /** Removes a finished stream (called by the stream). */
  forget(id: number): void {
    if (this.#streams.delete(id) && this.#streams.size === 0 && !this.#closed) {
      this.#opts.onIdle?.();
    }
  }

  /** Closes the connection and every stream on it with `reason`. */
  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    clearInterval(this.#keepalive);
    if (this.#probe) clearTimeout(this.#probe);
    if (this.#confirming) clearTimeout(this.#confirming);
    for (const s of [...this.#streams.values()]) s.lost(reason);
    this.#streams.clear();
    this.writer.fail(new Error(reason));
    try {
      this.#conn.close();
    } catch { /* already closed */ }
    this.#opts.onClose?.(reason);
    this.#resolveDone(reason);
  }

  #frame(type: number, id: number, payload: Uint8Array): void {
    this.#lastHeard = performance.now();
    if (!this.#heard) {
      this.#heard = true;
      this.#resolveHeard();
    }
    if (type === FrameType.PING) {
      // Answered at most once per #pingFloor: a peer flooding PINGs without reading our PONGs
      // could otherwise grow our output without bound.
      if (this.#lastHeard - this.#lastPingAnswered < this.#pingFloor) {
        throw new ProtocolError("PING flood");
      }
      this.#lastPingAnswered = this.#lastHeard;
      this.writer.frame(FrameType.PONG, 0, payload, true);
      return;
    }
    if (type === FrameType.PONG) return this.#pong(payload);
    if (type === FrameType.OPEN) {
      if (this.#opts.role !== "agent") throw new ProtocolError("OPEN from the agent");
      if (id <= this.#maxId) throw new ProtocolError("stream id reused");
      this.#maxId = id;
      const { host, port } = decodeOpen(payload);
      const s = new MuxStream(this, id, true);
      this.#streams.set(id, s);
      if (this.#opts.onOpen) this.#opts.onOpen(s, host, port);
      else s.refuse("error", "not accepting streams");
      return;
    }
    const s = this.#streams.get(id);
    if (s) return s.onFrame(type, payload);
    // A stream this side already closed may still get frames in flight; one never opened
    // is the peer making things up.
    // (An OPENED for an open given up here needs no answer: our CLOSE is already on its way, and
    // answering frames the peer sends would let it grow our output without reading it.)
    if (id > this.#maxId) throw new ProtocolError(`unknown stream ${id}`);
  }

  async #readLoop(): Promise<void> {
    let buf = new Uint8Array(READ_START);
    let start = 0;
    let end = 0;
    let reason = "closed";
    try {
      for (;;) {
        while (end - start >= FRAME_HEADER) {
          const h = readHeader(buf, start);
          const size = FRAME_HEADER + h.length;
          if (end - start < size) break;
          this.#frame(h.type, h.stream, buf.subarray(start + FRAME_HEADER, start + size));
          start += size;
        }
        if (start === end) start = end = 0;
        else if (buf.byteLength - start < FRAME_HEADER + MAX_PAYLOAD) {
          buf.copyWithin(0, start, end);
          end -= start;
          start = 0;
        }
        if (this.#closed) return;
        const space = buf.byteLength - end;
        const n = await this.#conn.read(buf.subarray(end));
        if (n === null) {
          reason = "data connection closed by the peer";
          break;
        }
        end += n;
        // A read that filled the buffer: more is coming (bulk) or a frame is larger than it.
        if (n === space && buf.byteLength < READ_BUFFER) {
          const bigger = new Uint8Array(Math.min(READ_BUFFER, buf.byteLength * 2));
          bigger.set(buf.subarray(start, end));
          end -= start;
          start = 0;
          buf = bigger;
        }
      }
    } catch (e) {
      reason = e instanceof ProtocolError
        ? `protocol error: ${e.message}`
        : `data connection failed: ${(e as Error).message}`;
    }
    buf = EMPTY;
    this.close(reason);
  }
}
