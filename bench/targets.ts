/**
 * The devices the bench reaches, run as their own process (`deno run -A bench/targets.ts`) so
 * their work does not share an event loop with the bench's clients. Prints one JSON line with
 * the ports, then serves until killed:
 *
 * - `bulk`: the first byte picks the direction. `U`: read until EOF, then answer one byte and
 *   close (a sink). `D` + 8-byte big-endian length: send that many bytes, then close (a source).
 * - `echo`: sends back what it reads (open + first byte round trips, idle tunnels).
 * - `http`: a small HTTP/1.1 server (`Deno.serve`) answering every GET with 100 bytes.
 * @module
 */

const CHUNK = 64 << 10;

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.byteLength) off += await conn.write(data.subarray(off));
}

async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  let have = 0;
  while (have < n) {
    const r = await conn.read(buf.subarray(have));
    if (r === null) return null;
    have += r;
  }
  return buf;
}

async function serveBulk(conn: Deno.TcpConn, source: Uint8Array): Promise<void> {
  conn.setNoDelay(true);
  const mode = await readExactly(conn, 1);
  if (mode?.[0] === 0x55 /* U */) {
    const buf = new Uint8Array(CHUNK);
    while ((await conn.read(buf)) !== null) { /* count nothing: the client times it */ }
    await writeAll(conn, new Uint8Array([1]));
  } else if (mode?.[0] === 0x44 /* D */) {
    const len = await readExactly(conn, 8);
    if (!len) return;
    let left = Number(new DataView(len.buffer).getBigUint64(0));
    while (left > 0) {
      const n = Math.min(left, CHUNK);
      await writeAll(conn, source.subarray(0, n));
      left -= n;
    }
  }
}

async function serveEcho(conn: Deno.TcpConn): Promise<void> {
  conn.setNoDelay(true);
  const buf = new Uint8Array(16 << 10);
  for (let n; (n = await conn.read(buf)) !== null;) await writeAll(conn, buf.subarray(0, n));
}

function acceptLoop(l: Deno.TcpListener, serve: (c: Deno.TcpConn) => Promise<void>): void {
  (async () => {
    for await (const conn of l) {
      serve(conn).catch(() => {}).finally(() => {
        try {
          conn.close();
        } catch { /* closed */ }
      });
    }
  })();
}

if (import.meta.main) {
  const source = new Uint8Array(CHUNK).map((_, i) => i * 7);
  const bulk = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const echo = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  acceptLoop(bulk, (c) => serveBulk(c, source));
  acceptLoop(echo, serveEcho);
  const body = "x".repeat(99) + "\n";
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response(body, { headers: { "content-type": "text/plain" } }),
  );
  console.log(JSON.stringify({
    bulk: (bulk.addr as Deno.NetAddr).port,
    echo: (echo.addr as Deno.NetAddr).port,
    http: http.addr.port,
  }));
}
