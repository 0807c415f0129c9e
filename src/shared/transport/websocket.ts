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
  /**
   * With socketEnd "close": decides the close code and reason when the socket ends (e.g. to
   * tell "device closed" from "agent disconnected"). Default 1000 with `endReason`.
   */
  classifyEnd?: () => Promise<{ code: number; reason: string }>;
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
  const high = opts.highWater ?? 1 << 20;
  const low = opts.lowWater ?? 256 << 10;
  return new Promise((resolve) => {
    const r: WsPumpResult = {
      aToB: 0,
      bToA: 0,
      wsToSocket: 0,
      socketToWs: 0,
      error: null,
      closeCode: 0,
      closeReason: "",
    };
    opts.onStart?.(r);
    let done = false;
    let connClosed = false;
    let queued = 0; // bytes handed to ws.send and not yet written out
    let wakeReader: (() => void) | null = null;
    let pendingWrite = 0; // bytes received from the WebSocket not yet written to conn
    let writes = Promise.resolve();
    let wsPaused = false;
    const timers: ReturnType<typeof setTimeout>[] = [];
    let lastActivity = Date.now();
    let idleTimer: ReturnType<typeof setInterval> | undefined;
    const closeConn = () => {
      if (connClosed) return;
      connClosed = true;
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    const finish = () => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      clearInterval(idleTimer);
      r.aToB = r.wsToSocket;
      r.bToA = r.socketToWs;
      closeConn();
      wakeReader?.();
      if (ws.readyState === OPEN) ws.terminate();
      resolve(r);
    };
    const unpauseWs = () => {
      if (wsPaused) {
        wsPaused = false;
        ws.resume();
      }
    };
    const closeWs = (code: number, reason: string) => {
      // The close handshake needs the WebSocket to read again.
      unpauseWs();
      if (ws.readyState !== OPEN) return;
      // ws sends queued frames before the close frame.
      ws.close(code, closeReason(reason));
      timers.push(setTimeout(() => ws.terminate(), 10_000));
    };
    const failConn = (e: Error) => {
      r.error ??= e;
      closeWs(1011, opts.describeError?.(e) ?? e.message);
    };

    if (opts.idleMs) {
      const idleMs = opts.idleMs;
      idleTimer = setInterval(() => {
        if (Date.now() - lastActivity < idleMs) return;
        clearInterval(idleTimer);
        closeWs(1000, "idle timeout");
        closeConn();
      }, Math.max(50, Math.min(idleMs / 4, 5_000)));
    }

    // conn → WebSocket: read only while the WebSocket's queue is below the high-water mark.
    let readSize = SMALL_READ;
    (async () => {
      try {
        while (!done) {
          if (queued > high) {
            await new Promise<void>((w) => (wakeReader = w));
            wakeReader = null;
            continue;
          }
          // A fresh buffer per read (ws.send keeps it until written), small while quiet; a
          // stream that hands out chunks of its own (a mux stream) holds none while idle.
          let buf: Uint8Array | null;
          if (conn.readChunk) buf = await conn.readChunk(LARGE_READ);
          else {
            buf = new Uint8Array(readSize);
            const got = await conn.read(buf);
            buf = got === null ? null : buf.subarray(0, got);
          }
          if (buf === null) break;
          const n = buf.byteLength;
          readSize = nextReadSize(readSize, n);
          lastActivity = Date.now();
          if (ws.readyState !== OPEN) continue; // nowhere to deliver: discard
          r.socketToWs += n;
          queued += n;
          ws.send(buf, { binary: true }, () => {
            queued -= n;
            if (queued < low) wakeReader?.();
          });
        }
        if (done) return;
        if (opts.socketEnd === "eof") sendEof(ws);
        else if (opts.classifyEnd) {
          const { code, reason } = await opts.classifyEnd();
          closeWs(code, reason);
        } else closeWs(1000, opts.endReason ?? "connection closed by peer");
      } catch (e) {
        if (!done && !connClosed) failConn(e as Error);
      }
    })();

    // WebSocket → conn: writes in order; the WebSocket pauses while too much is outstanding.
    const enqueue = (job: () => Promise<void>) => {
      writes = writes.then(job).catch((e) => {
        if (!done && !connClosed) failConn(e as Error);
      });
    };
    ws.on("message", (data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean) => {
      const parts = Array.isArray(data)
        ? data
        : [data instanceof ArrayBuffer ? new Uint8Array(data) : data];
      let len = 0;
      for (const b of parts) len += b.byteLength;
      lastActivity = Date.now();
      if (len === 0 && isBinary) {
        enqueue(() => conn.closeWrite());
        return;
      }
      r.wsToSocket += len;
      pendingWrite += len;
      if (pendingWrite > high && !wsPaused) {
        wsPaused = true;
        ws.pause();
      }
      enqueue(async () => {
        for (const b of parts) await writeAll(conn, b);
        pendingWrite -= len;
        if (pendingWrite < low) unpauseWs();
      });
    });
    ws.on("close", (code: number, reason: Uint8Array) => {
      r.closeCode = code;
      r.closeReason = new TextDecoder().decode(reason);
      // Nothing more can be delivered to the WebSocket: flush what was received, send FIN,
      // then close (what the far side still sends has nowhere to go).
      enqueue(async () => {
        await conn.closeWrite().catch(() => {});
      });
      const t = setTimeout(finish, 5_000);
      timers.push(t);
      writes.then(finish);
    });
    ws.on("error", (e: Error) => {
      r.error ??= e;
    });
  });
}
