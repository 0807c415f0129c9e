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
