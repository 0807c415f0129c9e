/**
 * A connected pair of real TCP sockets on loopback, for unit tests of code that writes to or
 * reads from a Deno connection (one end is the code's, the other the test's).
 * @module
 */

/** Two ends of one loopback TCP connection: `client` dialed, `server` accepted. */
export async function tcpPair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn }> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const [client, server] = await Promise.all([
      Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
      l.accept(),
    ]);
    return { client, server };
  } finally {
    l.close();
  }
}

/**
 * Writes `text` on a fresh connection to 127.0.0.1:`port` and returns everything read back,
 * until the peer closes, `done(out)` says enough, or `timeoutMs` passed (then what arrived).
 */
export async function exchange(
  port: number,
  text: string,
  done: (out: string) => boolean = () => false,
  timeoutMs = 20_000,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  const decoder = new TextDecoder();
  let out = "";
  try {
    await conn.write(new TextEncoder().encode(text));
    const buf = new Uint8Array(64 << 10);
    for (let n; (n = await conn.read(buf)) !== null;) {
      out += decoder.decode(buf.subarray(0, n), { stream: true });
      if (done(out)) break;
    }
  } catch { /* closed by the peer or the timer */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return out + decoder.decode();
}
