/**
 * One byte-stream interface over the two ways the bench reaches a target: a TCP connection
 * (direct, `ssh -R`, the CLI tunnel) and a raw WebSocket tunnel (`/api/tunnel/{handle}`, binary
 * messages, an empty message is the half-close). The workloads are written once against it.
 * @module
 */
import { connectWebSocket } from "../src/shared/transport/ws_connect.ts";

/** A bidirectional byte stream with half-close. */
export interface Stream {
  /** Writes all of `data` (waits when the transport pushes back). */
  write(data: Uint8Array): Promise<void>;
  /** Half-closes: no more bytes from us. */
  closeWrite(): Promise<void>;
  /** The next bytes, or null at the peer's end. The array is valid until the next read. */
  read(): Promise<Uint8Array | null>;
  close(): void;
}

/** Opens a stream to one target. */
export type Opener = () => Promise<Stream>;

/** A TCP stream to hostname:port. */
export async function tcpStream(hostname: string, port: number): Promise<Stream> {
  const conn = await Deno.connect({ hostname, port });
  conn.setNoDelay(true);
  const buf = new Uint8Array(64 << 10);
  return {
    async write(data) {
      let off = 0;
      while (off < data.byteLength) off += await conn.write(data.subarray(off));
    },
    closeWrite: () => conn.closeWrite(),
    async read() {
      const n = await conn.read(buf);
      return n === null ? null : buf.subarray(0, n);
    },
    close() {
      try {
        conn.close();
      } catch { /* closed */ }
    },
  };
}

/**
 * A raw WebSocket tunnel, opened with the product's native client (`ws_connect.ts`, what the
 * CLI uses) so the bench's own client is not what limits the figure. Frames are sent with an
 * all-zero mask (no masking work on either side; see src/tunnel/connect.ts for why that is
 * safe here). Reading pauses the socket while more than 1 MiB is queued, so a slow reader
 * pushes back.
 */
export async function wsStream(url: string, token: string): Promise<Stream> {
  const r = await connectWebSocket(new URL(url), { authorization: `Bearer ${token}` }, true);
  if (!r.ok) throw new Error(`tunnel refused: HTTP ${r.status} ${r.message}`);
  const ws = r.ws;
  const queue: Uint8Array[] = [];
  let queued = 0;
  let ended = false;
  let paused = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    wake?.();
    wake = null;
  };
  ws.on("message", (m: Uint8Array) => {
    if (m.byteLength === 0) ended = true;
    else {
      queue.push(m);
      queued += m.byteLength;
      if (queued > 1 << 20 && !paused) {
        paused = true;
        ws.pause();
      }
    }
    notify();
  });
  ws.on("close", () => {
    ended = true;
    notify();
  });
  ws.on("error", () => {});
  return {
    write(data) {
      return new Promise<void>((ok, fail) => {
        // Copy: the caller may reuse its buffer once we return.
        const copy = data.slice();
        if (ws.bufferedAmount < 4 << 20) {
          ws.send(copy, { binary: true });
          ok();
        } else ws.send(copy, { binary: true }, (e) => (e ? fail(e) : ok()));
      });
    },
    closeWrite() {
      ws.send(new Uint8Array(0), { binary: true });
      return Promise.resolve();
    },
    async read() {
      while (queue.length === 0) {
        if (ended) return null;
        await new Promise<void>((r) => (wake = r));
      }
      const m = queue.shift()!;
      queued -= m.byteLength;
      if (paused && queued < 256 << 10) {
        paused = false;
        ws.resume();
      }
      return m;
    },
    close: () => ws.terminate(),
  };
}
