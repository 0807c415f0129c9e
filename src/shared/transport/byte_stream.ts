/**
 * The byte-stream surface the pumps work on: what a Deno connection (TCP or TLS) and a tunnel
 * stream on a multiplexed data connection (`mux_session.ts`) both offer. Reads happen only when
 * asked (that is the backpressure), `closeWrite` is the half-close.
 * @module
 */

/** A duplex byte stream read only when asked. */
export interface ByteStream {
  /** Reads into `p`; resolves with the count, or null at the peer's end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes a prefix of `p`; resolves with how many bytes were taken. */
  write(p: Uint8Array): Promise<number>;
  /** Half-close: no more bytes from this side. */
  closeWrite(): Promise<void>;
  /** Ends the stream both ways. */
  close(): void;
  /**
   * Optional: resolves with the next bytes (at most `max`) in a buffer of their own, or null at
   * the end of stream. A pending `readChunk` holds no buffer, so an idle reader costs nothing
   * beyond its promise; streams that can only read into a caller's buffer leave it out.
   */
  readChunk?(max: number): Promise<Uint8Array | null>;
  /**
   * Optional: true once the peer closed the stream both ways (not just its writing half), so
   * nothing written to it will ever be read: a pump whose read side ended so closes the other
   * end for good instead of half-closing it and waiting on it.
   */
  closedByPeer?(): boolean;
}
