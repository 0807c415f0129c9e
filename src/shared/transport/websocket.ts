/**
 * The byte pump between a WebSocket (the operator side of a tunnel) and a node-style socket
 * (the data connection to the agent, or the CLI's local TCP client). Binary messages carry
 * bytes. Built on the `ws` library on both ends because it can pause reading, so backpressure
 * holds in both directions: a slow reader on either side stops the other side's reads instead
 * of growing a buffer. (Not when the socket is TLS on Deno, which cannot be paused safely: see
 * `canPause` in pipe.ts.)
 *
 * Half-close convention (also in wire.ts): an EMPTY binary message means "no more bytes from
 * me" (FIN); the device side's end is signalled by closing the WebSocket with 1000 once every
 * byte has been sent. Errors close with 1011 and a reason a person can read.
 * @module
 */
import type { Duplex } from "node:stream";
// @ts-types="@types/ws"
import type { WebSocket as WsSocket } from "ws";
import { canPause, type PipeResult } from "./pipe.ts";

/** Tunables of the WebSocket pump. */
export interface WsPumpOptions {
  /** Pause the socket when more than this many bytes are queued on the WebSocket. */
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
export function sendEof(ws: WsSocket): void {
  if (ws.readyState === OPEN) ws.send(EMPTY, { binary: true });
}

/** Pumps bytes between an OPEN `ws` WebSocket and a socket until both are done. */
export function pipeWebSocket(
  ws: WsSocket,
  sock: Duplex,
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
    let done = false;
    let sockEnded = false;
    let queued = 0;
    let sockPaused = false;
    let wsPaused = false;
    const timers: ReturnType<typeof setTimeout>[] = [];
    const finish = () => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      r.aToB = r.wsToSocket;
      r.bToA = r.socketToWs;
      sock.destroy();
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

    // socket → WebSocket, paused while too much is queued on the WebSocket.
    sock.on("data", (chunk: Uint8Array) => {
      if (ws.readyState !== OPEN) return;
      r.socketToWs += chunk.byteLength;
      queued += chunk.byteLength;
      ws.send(chunk, { binary: true }, () => {
        queued -= chunk.byteLength;
        if (sockPaused && queued < low) {
          sockPaused = false;
          sock.resume();
        }
      });
      if (queued > high && !sockPaused && canPause(sock)) {
        sockPaused = true;
        sock.pause();
      }
    });
    sock.on("end", () => {
      sockEnded = true;
      if (opts.socketEnd === "eof") sendEof(ws);
      else if (opts.classifyEnd) {
        opts.classifyEnd().then(({ code, reason }) => closeWs(code, reason));
      } else closeWs(1000, opts.endReason ?? "connection closed by peer");
    });
    sock.on("error", (e: Error) => {
      r.error ??= e;
      closeWs(1011, opts.describeError?.(e) ?? e.message);
    });
    sock.on("close", () => {
      unpauseWs();
      if (ws.readyState !== OPEN) return;
      if (r.error) return;
      if (opts.socketEnd === "eof") return closeWs(1000, "connection closed");
      if (sockEnded) return; // the end handler closes the WebSocket
      closeWs(1011, opts.describeError?.(new Error("closed")) ?? "connection lost");
    });
    // The socket drained: let the WebSocket deliver again.
    sock.on("drain", unpauseWs);

    // WebSocket → socket, pausing the WebSocket while the socket cannot take more.
    ws.on("message", (data: Uint8Array | ArrayBuffer | Uint8Array[], isBinary: boolean) => {
      const bytes = Array.isArray(data)
        ? data
        : [data instanceof ArrayBuffer ? new Uint8Array(data) : data];
      let len = 0;
      for (const b of bytes) len += b.byteLength;
      if (len === 0 && isBinary) {
        if (sock.writable) sock.end();
        // An ended socket emits no more 'drain', and only the close frame can follow: read on.
        unpauseWs();
        return;
      }
      r.wsToSocket += len;
      if (!sock.writable) return;
      let ok = true;
      for (const b of bytes) ok = sock.write(b);
      if (!ok && !wsPaused) {
        wsPaused = true;
        ws.pause();
      }
    });
    ws.on("close", (code: number, reason: Uint8Array) => {
      r.closeCode = code;
      r.closeReason = new TextDecoder().decode(reason);
      // Nothing more can be delivered to the WebSocket: flush what is queued on the socket,
      // send its FIN, discard what it still reads, and let it close by itself once the peer
      // ends too. Destroying it on 'finish' would drop the tail a Deno TLS socket still holds.
      if (sock.writable) sock.end();
      sock.resume();
      if (sock.destroyed) return finish();
      sock.once("close", finish);
      timers.push(setTimeout(finish, 5_000));
    });
    ws.on("error", (e: Error) => {
      r.error ??= e;
    });
  });
}
