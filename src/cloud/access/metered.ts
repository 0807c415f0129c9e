/**
 * A tunnel's socket as the access paths see it, counted for `/metrics`: bytes each way
 * (`connector_tunnel_bytes_total{direction}`, up = toward the device) and the tunnel open until
 * its socket is closed (`connector_tunnels_open`). It only delegates, so it works the same over
 * an agent's data connection and over a BridgeTunnel.
 * @module
 */
import { tunnelBytes, tunnelsOpen } from "../cloud_metrics.ts";

const UP = { direction: "up" };
const DOWN = { direction: "down" };

/** Wraps a tunnel socket; the gauge of open tunnels rises now and falls at the first close. */
export class MeteredConn implements Deno.Conn {
  #inner: Deno.Conn;
  #open = true;

  /** Wraps `inner` and counts it open. */
  constructor(inner: Deno.Conn) {
    this.#inner = inner;
    tunnelsOpen.inc();
  }

  /** See Deno.Conn. */
  get localAddr(): Deno.Addr {
    return this.#inner.localAddr;
  }
  /** See Deno.Conn. */
  get remoteAddr(): Deno.Addr {
    return this.#inner.remoteAddr;
  }
  /** See Deno.Conn. */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#inner.readable;
  }
  /** See Deno.Conn. */
  get writable(): WritableStream<Uint8Array<ArrayBufferLike>> {
    return this.#inner.writable;
  }

  /** Reads from the device side, counting bytes down. */
  async read(p: Uint8Array): Promise<number | null> {
    const n = await this.#inner.read(p);
    if (n) tunnelBytes.inc(DOWN, n);
    return n;
  }

  /** Writes toward the device, counting bytes up. */
  async write(p: Uint8Array): Promise<number> {
    const n = await this.#inner.write(p);
    tunnelBytes.inc(UP, n);
    return n;
  }

  /** See Deno.Conn. */
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

  /** See Deno.Conn. */
  ref(): void {
    this.#inner.ref();
  }
  /** See Deno.Conn. */
  unref(): void {
    this.#inner.unref();
  }
  /** See Deno.Conn. */
  [Symbol.dispose](): void {
    this.close();
  }
}
