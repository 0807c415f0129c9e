import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { acceptKey } from "../../../../src/shared/transport/ws_native.ts";
import { connectWebSocket, dialFor } from "../../../../src/shared/transport/ws_connect.ts";

/**
 * A server that answers each upgrade with 101, or with `refuse` when given; it counts the
 * requests it read.
 */
function upgrader(refuse?: string) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const seen = { requests: 0 };
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of l) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(8192);
        let end = 0;
        while (!new TextDecoder().decode(buf.subarray(0, end)).includes("\r\n\r\n")) {
          const n = await conn.read(buf.subarray(end));
          if (n === null) return;
          end += n;
        }
        seen.requests++;
        const key = /sec-websocket-key: *(\S+)/i.exec(new TextDecoder().decode(buf))![1];
        await conn.write(new TextEncoder().encode(
          refuse ??
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
              `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
        ));
        if (refuse) conn.close();
      })().catch(() => {});
    }
  })().catch(() => {});
  const url = new URL(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/api/tunnel/cam-1`);
  return {
    url,
    seen,
    /** A connection the server accepted and then closed without reading (a stale spare). */
    async stale(): Promise<Deno.Conn> {
      const c = await dialFor(url);
      while (conns.length === 0) await new Promise((r) => setTimeout(r, 5));
      conns.shift()!.close();
      return c;
    },
    close() {
      l.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

Deno.test("a connection dialed ahead that the server closed unanswered: the request goes again on a fresh dial", async () => {
  const s = upgrader();
  const stale = await s.stale();
  const r = await connectWebSocket(
    s.url,
    {},
    true,
    () => Promise.resolve({ conn: stale, reused: true }),
  );
  assert(r.ok, r.ok ? "" : r.message);
  assertEquals(s.seen.requests, 1, "only the fresh connection carried the request");
  r.ws.terminate();
  s.close();
});

Deno.test("a fresh connection closed unanswered is an error, not sent twice; a refusal on a spare is not retried", async () => {
  const s = upgrader();
  const stale = await s.stale();
  const r = await connectWebSocket(
    s.url,
    {},
    true,
    () => Promise.resolve({ conn: stale, reused: false }),
  );
  assertEquals(r.ok, false);
  assert(!r.ok && r.status === 0 && r.message.length > 0);
  assertEquals(Object.keys(r).sort(), ["message", "ok", "status"]);
  assertEquals(s.seen.requests, 0);
  s.close();

  const body = JSON.stringify({ error: "forbidden", message: "Target not in allowlist" });
  const refusing = upgrader(
    `HTTP/1.1 403 Forbidden\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
  );
  const spare = await dialFor(refusing.url);
  const refused = await connectWebSocket(
    refusing.url,
    {},
    true,
    () => Promise.resolve({ conn: spare, reused: true }),
  );
  assertEquals(refused, { ok: false, status: 403, message: "Target not in allowlist" });
  assertEquals(refusing.seen.requests, 1);
  refusing.close();
});

Deno.test("a server's first message that comes with the 101 (a device that speaks first) reaches a listener attached later", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const served = (async () => {
    const conn = await l.accept();
    const buf = new Uint8Array(8192);
    let end = 0;
    while (!new TextDecoder().decode(buf.subarray(0, end)).includes("\r\n\r\n")) {
      end += (await conn.read(buf.subarray(end)))!;
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(new TextDecoder().decode(buf))![1];
    const banner = new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n");
    const head = new TextEncoder().encode(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`,
    );
    // One write: the answer and the banner's frame reach the client in the same read.
    const out = new Uint8Array(head.byteLength + 2 + banner.byteLength);
    out.set(head);
    out.set([0x82, banner.byteLength], head.byteLength);
    out.set(banner, head.byteLength + 2);
    await conn.write(out);
    return conn;
  })();
  const r = await connectWebSocket(
    new URL(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`),
    {},
    true,
  );
  assert(r.ok);
  // The caller attaches its listener after more turns of the event loop.
  await new Promise((res) => setTimeout(res, 20));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    new Promise<string>((res) =>
      r.ws.on("message", (d: Uint8Array) => res(new TextDecoder().decode(d)))
    ),
    new Promise<string>((res) => (timer = setTimeout(() => res("(lost)"), 5_000))),
  ]);
  clearTimeout(timer);
  assertEquals(got, "SSH-2.0-OpenSSH_9.2\r\n");
  r.ws.terminate();
  (await served).close();
  l.close();
});
