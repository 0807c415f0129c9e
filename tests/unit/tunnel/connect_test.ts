import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { carry, maskFree } from "../../../src/tunnel/connect.ts";
import { SpareDialer } from "../../../src/tunnel/spare.ts";
import { dialFor } from "../../../src/shared/transport/ws_connect.ts";
import { acceptKey, NativeWebSocket } from "../../../src/shared/transport/ws_native.ts";
import {
  decodeEarlyData,
  EARLY_DATA_HEADER,
  withEarlyFrame,
} from "../../../src/shared/transport/early_data.ts";

Deno.test("CLI frames go unmasked only over TLS or on loopback", () => {
  assertEquals(maskFree(new URL("wss://cloud.example.com/api/cli/raw-tunnel/127.0.0.2/80")), true);
  assertEquals(maskFree(new URL("ws://127.0.0.1:8080/x")), true);
  assertEquals(maskFree(new URL("ws://127.3.4.5:8080/x")), true);
  assertEquals(maskFree(new URL("ws://localhost:8080/x")), true);
  assertEquals(maskFree(new URL("ws://[::1]:8080/x")), true);
  assertEquals(maskFree(new URL("ws://192.0.2.10:8080/x")), false);
  assertEquals(maskFree(new URL("ws://cloud.example.com/x")), false);
});

const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A WebSocket echo "cloud". `takesEarly`: it reads the early-data header, puts its bytes ahead
 * of the tunnel and confirms them in its 101, as the cloud does; otherwise it ignores the
 * header, as a cloud before early data did. Records each request's header value.
 */
function echoCloud(takesEarly: boolean) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const headers: (string | null)[] = [];
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const conn of l) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(16 << 10);
        let end = 0;
        let at = -1;
        while ((at = dec(buf.subarray(0, end)).indexOf("\r\n\r\n")) < 0) {
          const n = await conn.read(buf.subarray(end));
          if (n === null) return;
          end += n;
        }
        const head = dec(buf.subarray(0, at));
        const value = new RegExp(`^${EARLY_DATA_HEADER}: *(\\S+)`, "im").exec(head)?.[1] ?? null;
        headers.push(value);
        const key = /sec-websocket-key: *(\S+)/i.exec(head)![1];
        let rest: Uint8Array = buf.slice(at + 4, end);
        const early = takesEarly && value ? decodeEarlyData(value) : null;
        if (early) rest = withEarlyFrame(early, rest);
        await conn.write(new TextEncoder().encode(
          "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
            (early ? `${EARLY_DATA_HEADER}: ${early.byteLength}\r\n` : "") + "\r\n",
        ));
        const ws = new NativeWebSocket(conn, { role: "server", head: rest });
        ws.on("message", (data: Uint8Array) => {
          if (data.byteLength === 0) ws.close(1000, "device closed the connection");
          else ws.send(data.slice(), { binary: true });
        });
      })().catch(() => {});
    }
  })().catch(() => {});
  const url = new URL(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/api/tunnel/h-1`);
  return {
    url,
    headers,
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

/** A loopback TCP pair: [the local client, the end the CLI accepted]. */
async function pair(): Promise<[Deno.TcpConn, Deno.TcpConn]> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port });
  const accepted = await l.accept();
  l.close();
  return [await client, accepted];
}

async function readAll(c: Deno.Conn): Promise<string> {
  let out = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await c.read(buf).catch(() => null);
    if (n === null) return out;
    out += dec(buf.subarray(0, n));
  }
}

Deno.test("early data: a client's first bytes ride in the request; a cloud that confirms them gets them once, one that ignores them gets them after the answer, once", async () => {
  const request = "GET /snapshot.jpg HTTP/1.1\r\nHost: camera\r\n\r\n";
  for (const takesEarly of [true, false]) {
    const cloud = echoCloud(takesEarly);
    // A slow link: the open waits a moment for the client's first bytes.
    const spares = new SpareDialer(() => dialFor(cloud.url));
    spares.answered(200);
    assert(spares.earlyWaitMs > 0);
    const [client, local] = await pair();
    await client.write(new TextEncoder().encode(request));
    const carried = carry(local, cloud.url, {}, spares, { enabled: true });
    await client.write(new TextEncoder().encode("after"));
    await client.closeWrite();
    assertEquals(
      await readAll(client),
      request + "after",
      `each byte once (takesEarly ${takesEarly})`,
    );
    const r = await carried;
    assert(r.ok);
    assertEquals([r.up, r.down], [(request + "after").length, (request + "after").length]);
    assertEquals(cloud.headers.length, 1);
    // What the client had sent by then (its next write may have joined the first read).
    assert(dec(decodeEarlyData(cloud.headers[0]!)!).startsWith(request), "the request rode early");
    client.close();
    spares.close();
    cloud.close();
  }
});

Deno.test("early data: off, or a client that sends nothing in time (a server-first protocol), and the request carries no header", async () => {
  const cloud = echoCloud(true);
  for (const early of [{ enabled: false }, { enabled: true, serverFirst: true }]) {
    const spares = new SpareDialer(() => dialFor(cloud.url));
    spares.answered(200);
    const [client, local] = await pair();
    const carried = carry(local, cloud.url, {}, spares, early);
    // The client speaks only later (after a banner, say).
    await new Promise((r) => setTimeout(r, 20));
    await client.write(new TextEncoder().encode("SSH-2.0-client\r\n"));
    await client.closeWrite();
    assertEquals(await readAll(client), "SSH-2.0-client\r\n");
    await carried;
    client.close();
    spares.close();
  }
  assertEquals(cloud.headers, [null, null]);
  cloud.close();
});
