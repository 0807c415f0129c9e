/**
 * A node `Duplex` over a Deno connection, for node libraries that take a socket (node:tls for
 * HTTPS devices, ssh2 for the browser terminal). Reads happen only when the library asks for
 * more (backpressure holds), writes complete before the library's callback, `end()` half-closes.
 * @module
 */
import { Duplex } from "node:stream";
import type { ByteStream } from "./byte_stream.ts";

/** Wraps a Deno connection or tunnel stream; destroying the Duplex closes it. */
export function duplexOf(conn: ByteStream): Duplex {
  const buf = new Uint8Array(64 << 10);
  let reading = false;
  return new Duplex({
    read() {
      if (reading) return;
      reading = true;
      conn.read(buf).then((n) => {
        reading = false;
        this.push(n === null ? null : buf.slice(0, n));
      }, (e) => this.destroy(e));
    },
    write(chunk: Uint8Array, _enc, cb) {
      (async () => {
        let off = 0;
        while (off < chunk.length) off += await conn.write(chunk.subarray(off));
      })().then(() => cb(), cb);
    },
    final(cb) {
      conn.closeWrite().then(() => cb(), () => cb());
    },
    destroy(err, cb) {
      try {
        conn.close();
      } catch { /* already closed */ }
      cb(err);
    },
  });
}
