/**
 * A tunnel's socket as the access paths see it, counted for `/metrics`: bytes each way
 * (`connector_tunnel_bytes_total{direction}`, up = toward the device) and the tunnel open until
 * its socket is closed (`connector_tunnels_open`). It only delegates, so it works the same over
 * an agent's data connection and over a BridgeTunnel.
 * @module
 */
import { tunnelBytes, tunnelsOpen } from "../cloud_metrics.ts";
import type { ByteStream } from "../../shared/transport/byte_stream.ts";
import { chunkPool } from "../../shared/transport/buffer_pool.ts";

const UP = { direction: "up" };
const DOWN = { direction: "down" };

/** Counts a chunk read from the device side (one shared function, not one per read). */
function countDown(b: Uint8Array | null): Uint8Array | null {
  if (b) tunnelBytes.inc(DOWN, b.byteLength);
  return b;
}

/** Wraps a tunnel socket; the gauge of open tunnels rises now and falls at the first close. */
export class MeteredConn implements ByteStream {
  #inner: ByteStream;
  #open = true;

  /** Wraps `inner` and counts it open. */
  constructor(inner: ByteStream) {
    this.#inner = inner;
    tunnelsOpen.inc();
  }

  /** Reads from the device side, counting bytes down. */
  async read(p: Uint8Array): Promise<number | null> {
    const n = await this.#inner.read(p);
    if (n) tunnelBytes.inc(DOWN, n);
    return n;
  }

  /**
   * The next bytes from the device side (at most `max`) in a buffer of their own, counting bytes
   * down. Over a mux stream the pending read holds no buffer; otherwise (a BridgeTunnel) it reads
   * into one from the chunk pool, which the relay hands back once the bytes are written.
   */
  readChunk(max: number): Promise<Uint8Array | null> {
    if (this.#inner.readChunk) return this.#inner.readChunk(max).then(countDown);
    const buf = chunkPool.take(max);
    return this.#inner.read(buf).then((n) => {
      if (n !== null) return countDown(buf.subarray(0, n));
      chunkPool.give(buf);
      return null;
    });
  }

  /** Writes toward the device, counting bytes up. */
  async write(p: Uint8Array): Promise<number> {
    const n = await this.#inner.write(p);
    tunnelBytes.inc(UP, n);
    return n;
  }

  /** Half-close toward the device. */
  closeWrite(): Promise<void> {
    return this.#inner.closeWrite();
  }

  /** Closes the tunnel (the open gauge falls once). */
  close(): void {
    if (this.#open) {
      this.#open = false;
      tunnelsOpen.dec();
    }
    this.#inner.close();
  }
}
