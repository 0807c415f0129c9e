/**
 * Keeps an agent's GOAWAY frame away from the control relay's HTTP/2 engine. Deno 2.9.6's
 * `node:http2` (nghttp2) can abort the whole process when a client's GOAWAY arrives while a stream
 * it just closed is still on nghttp2's closed-stream list (denoland/deno#36788: the
 * `find_stream_on_goaway_func` assertion, or a SIGSEGV), and every agent that stops gracefully
 * sends one. The relay terminates TLS itself and passes the decrypted client-to-server bytes
 * through this filter, which forwards every HTTP/2 frame untouched except GOAWAY (type 0x7),
 * which it drops: for a server, a client's GOAWAY only announces that the client will open no new
 * streams and is about to close, and the TCP close that follows ends the session just the same.
 * It parses only the 9-byte frame headers after the 24-byte connection preface, never a payload,
 * and holds at most one split header between reads; server-to-client bytes pass untouched, and
 * backpressure is kept both ways (the socket pauses while the engine does not read).
 * @module
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

/** The length of the client connection preface `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`. */
const PREFACE = 24;
/** An HTTP/2 frame header: length (24 bits), type, flags, stream id (32 bits). */
const HEADER = 9;
/** The GOAWAY frame type (RFC 9113 §6.8). */
const GOAWAY = 0x7;

/** The socket side the filter needs: a node:tls (or net) socket. */
export interface FilteredSocket extends Duplex {
  remoteAddress?: string;
  remotePort?: number;
  pause(): this;
  resume(): this;
}

/** How many GOAWAY frames the filters dropped, process-wide (for tests and logs). */
export const dropped = { goaways: 0 };

/**
 * A duplex that reads `sock`'s HTTP/2 client bytes without GOAWAY frames and writes to `sock`
 * untouched. It reports `sock`'s remote address and port (grpc-js reads them as the peer).
 */
export function dropClientGoaway(sock: FilteredSocket): Duplex {
  let preface = PREFACE; // preface bytes still to pass
  let pass = 0; // payload bytes of the current frame still to pass
  let drop = 0; // payload bytes of a GOAWAY frame still to drop
  let head: Buffer | null = null; // a frame header split across reads
  const d = new Duplex({
    read() {
      sock.resume();
    },
    write(chunk, _enc, cb) {
      sock.write(chunk, cb);
    },
    final(cb) {
      sock.end();
      cb();
    },
    destroy(err, cb) {
      sock.destroy();
      cb(err);
    },
  });
  Object.defineProperty(d, "remoteAddress", { get: () => sock.remoteAddress });
  Object.defineProperty(d, "remotePort", { get: () => sock.remotePort });
  sock.on("data", (chunk: Buffer) => {
    const out: Buffer[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (preface || pass) {
        const n = Math.min(preface || pass, chunk.length - off);
        out.push(chunk.subarray(off, off + n));
        off += n;
        if (preface) preface -= n;
        else pass -= n;
        continue;
      }
      if (drop) {
        const n = Math.min(drop, chunk.length - off);
        off += n;
        drop -= n;
        continue;
      }
      const take = chunk.subarray(off, off + HEADER - (head?.length ?? 0));
      off += take.length;
      head = head ? Buffer.concat([head, take]) : take;
      if (head.length < HEADER) break;
      const length = head.readUIntBE(0, 3);
      if (head[3] === GOAWAY) {
        drop = length;
        dropped.goaways++;
      } else {
        out.push(head);
        pass = length;
      }
      head = null;
    }
    if (!out.length) return;
    if (!d.push(out.length === 1 ? out[0] : Buffer.concat(out))) sock.pause();
  });
  sock.on("end", () => d.push(null));
  sock.on("error", (e) => d.destroy(e));
  sock.on("close", () => d.destroy());
  return d;
}
