/**
 * Reading a fixed-size piece of a handshake — a data connection's preface, a SOCKS5 reply — and
 * not a byte more: what follows belongs to whoever takes the connection next (its TLS, its
 * tunnel), so nothing may be read ahead.
 * @module
 */

/** Reads exactly `n` bytes from `from` (null when it ended first). */
export async function readExactly(
  from: { read(p: Uint8Array): Promise<number | null> },
  n: number,
): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  for (let have = 0; have < n;) {
    const got = await from.read(buf.subarray(have));
    if (got === null) return null;
    have += got;
  }
  return buf;
}
