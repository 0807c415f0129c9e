/**
 * The byte pump between a WebSocket (the operator side of a tunnel) and a Deno connection (the
 * TLS data connection from the agent, or the CLI's local TCP client). Binary messages carry
 * bytes. Backpressure holds both ways: a Deno connection is read only when the pump asks, and
 * the `ws` library can pause reading its socket, so a slow reader on either side stops the other
 * side's reads instead of growing a buffer.
 *
 * Half-close convention (also in wire.ts): an EMPTY binary message means "no more bytes from
 * me" (FIN); the device side's end is signalled by closing the WebSocket with 1000 once every
 * byte has been sent. Errors close with 1011 and a reason a person can read.
 * @module
 */
import type { ByteStream } from "./byte_stream.ts";
import { LARGE_READ, nextReadSize, type PipeResult, SMALL_READ } from "./pipe.ts";
import { chunkPool } from "./buffer_pool.ts";
import { idleSweep, type IdleWatched } from "./idle_sweep.ts";

/**
 * The WebSocket surface the pump uses: what a `ws` WebSocket and the native one
 * (`ws_native.ts`, the tunnel endpoints) both offer.
 */
export interface PumpSocket {
  readonly readyState: number;
  /** Queues a message; `cb` runs once it is written. */
  send(data: Uint8Array, options: { binary?: boolean }, cb?: (err?: Error) => void): void;
  /** Stops reading the peer (backpressure). */
  pause(): void;
  /** Reads again. */
  resume(): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Ends the connection at once. */
  terminate(): void;
  /** "message" (data, isBinary), "close" (code, reason), "error" (e). */
  // deno-lint-ignore no-explicit-any
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** Tunables of the WebSocket pump. */
export interface WsPumpOptions {
  /** Stop reading the connection while more than this many bytes are queued on the WebSocket. */
  highWater?: number;
  /** Resume it below this. */
  lowWater?: number;
  /** Reason for the close when the socket side ends normally. */
  endReason?: string;
  /**
   * What the socket's end means: "close" (default; the device side finished, close the
   * WebSocket with 1000) or "eof" (the local client half-closed: send the EOF marker and keep
   * reading until the far side closes).
   */
  socketEnd?: "close" | "eof";
  /** Turns a socket error into the reason shown to the WebSocket peer. */
  describeError?: (e: Error) => string;
  /** Close the tunnel ("idle timeout") after this long without a byte either way; null: never. */
  idleMs?: number | null;
  /** Receives the result object at start; its byte counts grow as bytes flow (live views). */
  onStart?: (live: Readonly<WsPumpResult>) => void;
}

/** Result of a WebSocket pump: bytes each way plus how the WebSocket closed. */
export interface WsPumpResult extends PipeResult {
  /** Bytes received from the WebSocket and written to the socket. */
  wsToSocket: number;
  /** Bytes read from the socket and sent on the WebSocket. */
  socketToWs: number;
  closeCode: number;
  closeReason: string;
}

const OPEN = 1;
const EMPTY = new Uint8Array(0);

/** Truncates a close reason to the 123 bytes a close frame allows. */
export function closeReason(text: string): string {
  const enc = new TextEncoder();
  let s = text;
  while (enc.encode(s).byteLength > 123) s = s.slice(0, -1);
  return s;
}

/** Sends the half-close marker (an empty binary message). */
export function sendEof(ws: PumpSocket): void {
  if (ws.readyState === OPEN) ws.send(EMPTY, { binary: true });
}

/** Writes all of `data` to `conn`. */
async function writeAll(conn: ByteStream, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

/**
 * Pumps bytes between an OPEN `ws` WebSocket and a Deno connection (TCP or TLS) until both
 * directions are done. Deno connections are read only when asked, so not asking is real
 * backpressure: the pump stops reading the connection while too much is queued on the
 * WebSocket, and pauses the WebSocket while writes to the connection are outstanding.
 */
export function pipeWebSocket(
  ws: PumpSocket,
  conn: ByteStream,
  opts: WsPumpOptions = {},
): Promise<WsPumpResult> {
  return new Promise((resolve) => new WsPump(ws, conn, opts, { pumpEnded: resolve }).start());
}

/** Who learns a pump's end (`startWebSocketPump`). */
export interface PumpOwner {
  /** Both directions are done: the result, with how the WebSocket closed. */
  pumpEnded(r: WsPumpResult): void;
}

/**
 * The same pump for a caller that holds many at once (a node's tunnels): `owner.pumpEnded` is
 * called at the end instead of a promise being made, and the result, whose byte counts grow as
 * bytes flow, is returned at once — no promise, reaction or closure waits per pump.
 * `opts.onStart` is not called (the result is returned instead).
 */
export function startWebSocketPump(
  ws: PumpSocket,
  conn: ByteStream,
  opts: Omit<WsPumpOptions, "onStart">,
  owner: PumpOwner,
): Readonly<WsPumpResult> {
  const pump = new WsPump(ws, conn, opts, owner);
  pump.start();
  return pump.r;
}

/**
 * One pump's state. A class rather than closures over locals: an idle tunnel holds this object,
 * its three WebSocket listeners and one pending read — a node holds tens of thousands of them.
 */
class WsPump implements IdleWatched {
  readonly r: WsPumpResult = {
    aToB: 0,
    bToA: 0,
    wsToSocket: 0,
    socketToWs: 0,
    error: null,
    closeCode: 0,
    closeReason: "",
  };
  readonly idleMs: number;
  lastActivity = Date.now();
  #ws: PumpSocket;
  #conn: ByteStream;
  #opts: WsPumpOptions;
  #owner: PumpOwner;
  #high: number;
  #low: number;
  #done = false;
  #connClosed = false;
  /** Bytes handed to ws.send and not yet written out. */
  #queued = 0;
  /** The reader stopped above the high-water mark and waits for sends to complete. */
  #parked = false;
  /** Bytes received from the WebSocket not yet written to conn. */
  #pendingWrite = 0;
  #writes: Promise<void> = Promise.resolve();
  #wsPaused = false;
  #timers: ReturnType<typeof setTimeout>[] | null = null;
  #readSize = SMALL_READ;

  constructor(
    ws: PumpSocket,
    conn: ByteStream,
    opts: WsPumpOptions,
    owner: PumpOwner,
  ) {
    this.#ws = ws;
    this.#conn = conn;
    this.#opts = opts;
    this.#owner = owner;
    this.#high = opts.highWater ?? 1 << 20;
    this.#low = opts.lowWater ?? 256 << 10;
    this.idleMs = opts.idleMs ?? 0;
  }

  start(): void {
    this.#opts.onStart?.(this.r);
    if (this.idleMs) idleSweep.add(this);
    this.#read();
    this.#ws.on(
      "message",
      (data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean) =>
        this.#onMessage(data, isBinary),
    );
    this.#ws.on("close", (code: number, reason: Uint8Array) => this.#onClose(code, reason));
    this.#ws.on("error", (e: Error) => {
      this.r.error ??= e;
    });
  }

  /** The idle timeout passed (see idle_sweep.ts). */
  onIdle(): void {
    this.#closeWs(1000, "idle timeout");
    this.#closeConn();
  }

  #later(fn: () => void, ms: number): void {
    (this.#timers ??= []).push(setTimeout(fn, ms));
  }

  #closeConn(): void {
    if (this.#connClosed) return;
    this.#connClosed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#timers?.forEach(clearTimeout);
    if (this.idleMs) idleSweep.delete(this);
    const r = this.r;
    r.aToB = r.wsToSocket;
    r.bToA = r.socketToWs;
    this.#closeConn();
    if (this.#ws.readyState === OPEN) this.#ws.terminate();
    this.#owner.pumpEnded(r);
  }

  #unpauseWs(): void {
    if (this.#wsPaused) {
      this.#wsPaused = false;
      this.#ws.resume();
    }
  }

  #closeWs(code: number, reason: string): void {
    // The close handshake needs the WebSocket to read again.
    this.#unpauseWs();
    const ws = this.#ws;
    if (ws.readyState !== OPEN) return;
    // ws sends queued frames before the close frame.
    ws.close(code, closeReason(reason));
    this.#later(() => ws.terminate(), 10_000);
  }

  #failConn(e: Error): void {
    this.r.error ??= e;
    this.#closeWs(1011, this.#opts.describeError?.(e) ?? e.message);
  }

  /**
   * conn → WebSocket: read only while the WebSocket's queue is below the high-water mark. Written
   * with callbacks rather than as an async loop: an idle tunnel then waits on one promise of its
   * stream, not on an async frame and the closures every `await` makes.
   */
  #read(): void {
    if (this.#done) return;
    if (this.#queued > this.#high) {
      this.#parked = true; // a send's completion below the low-water mark reads again
      return;
    }
    const conn = this.#conn;
    let next: Promise<Uint8Array | null>;
    // A buffer per read (ws.send keeps it until written, then it goes back to the chunk pool),
    // small while quiet; a stream that hands out chunks of its own (a mux stream) holds none
    // while idle.
    if (conn.readChunk) next = conn.readChunk(LARGE_READ);
    else {
      const buf = chunkPool.take(this.#readSize);
      next = conn.read(buf).then((n) => {
        if (n !== null) return buf.subarray(0, n);
        chunkPool.give(buf);
        return null;
      });
    }
    next.then(this.#onChunk, this.#onReadError);
  }

  #onChunk = (buf: Uint8Array | null): void => {
    try {
      this.#deliver(buf);
    } catch (e) {
      this.#onReadError(e);
    }
  };

  #deliver(buf: Uint8Array | null): void {
    if (this.#done) return;
    if (buf === null) {
      this.#ended();
      return;
    }
    const n = buf.byteLength;
    this.#readSize = nextReadSize(this.#readSize, n);
    this.lastActivity = Date.now();
    if (this.#ws.readyState === OPEN) {
      this.r.socketToWs += n;
      this.#queued += n;
      this.#ws.send(buf, { binary: true }, () => {
        // Written (or dropped with the socket): nothing reads the chunk any more.
        chunkPool.give(buf);
        this.#queued -= n;
        if (this.#parked && this.#queued < this.#low) {
          this.#parked = false;
          this.#read();
        }
      });
    } else chunkPool.give(buf); // nowhere to deliver: discard
    this.#read();
  }

  #onReadError = (e: unknown): void => {
    if (!this.#done && !this.#connClosed) this.#failConn(e as Error);
  };

  /** The socket side ended: what that means (see WsPumpOptions.socketEnd). */
  #ended(): void {
    const opts = this.#opts;
    if (opts.socketEnd === "eof") sendEof(this.#ws);
    else this.#closeWs(1000, opts.endReason ?? "connection closed by peer");
  }

  /** WebSocket → conn: writes in order; the WebSocket pauses while too much is outstanding. */
  #enqueue(job: () => Promise<void>): void {
    this.#writes = this.#writes.then(job).catch((e) => {
      if (!this.#done && !this.#connClosed) this.#failConn(e as Error);
    });
  }

  #onMessage(data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean): void {
    const parts = Array.isArray(data)
      ? data
      : [data instanceof ArrayBuffer ? new Uint8Array(data) : data];
    let len = 0;
    for (const b of parts) len += b.byteLength;
    this.lastActivity = Date.now();
    const conn = this.#conn;
    if (len === 0 && isBinary) {
      this.#enqueue(() => conn.closeWrite());
      return;
    }
    this.r.wsToSocket += len;
    this.#pendingWrite += len;
    if (this.#pendingWrite > this.#high && !this.#wsPaused) {
      this.#wsPaused = true;
      this.#ws.pause();
    }
    this.#enqueue(async () => {
      for (const b of parts) {
        await writeAll(conn, b);
        // Every ByteStream's write is done with its bytes once it resolves: the payload of a
        // pooled message can serve again (the pool ignores buffers it did not make).
        chunkPool.give(b);
      }
      this.#pendingWrite -= len;
      if (this.#pendingWrite < this.#low) this.#unpauseWs();
    });
  }

  #onClose(code: number, reason: Uint8Array): void {
    this.r.closeCode = code;
    this.r.closeReason = new TextDecoder().decode(reason);
    // Nothing more can be delivered to the WebSocket: flush what was received, send FIN,
    // then close (what the far side still sends has nowhere to go).
    const conn = this.#conn;
    this.#enqueue(async () => {
      await conn.closeWrite().catch(() => {});
    });
    this.#later(() => this.#finish(), 5_000);
    this.#writes.then(() => this.#finish());
  }
}
