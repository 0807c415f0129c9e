/**
 * The native WebSocket (`ws_native.ts`) against the `ws` library as the peer, on real loopback
 * sockets: messages both ways (masked with a random key and with the zero key), fragmentation,
 * ping, the close handshake, and what it does with a peer that breaks the framing rules.
 */
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { randomBytes } from "node:crypto";
// @ts-types="@types/ws"
import WebSocket from "ws";
import { acceptKey, NativeWebSocket } from "../../../../src/shared/transport/ws_native.ts";
import { connectWebSocket } from "../../../../src/shared/transport/ws_connect.ts";

/** A one-connection native server: handshake, then `serve` gets the socket. */
function nativeServer(serve: (ws: NativeWebSocket) => void) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = (async () => {
    const conn = await l.accept();
    const buf = new Uint8Array(8192);
    let end = 0;
    let at = -1;
    while ((at = new TextDecoder().decode(buf.subarray(0, end)).indexOf("\r\n\r\n")) < 0) {
      end += (await conn.read(buf.subarray(end)))!;
    }
    const key = /sec-websocket-key: *(\S+)/i.exec(new TextDecoder().decode(buf))![1];
    const accept = acceptKey(key);
    await conn.write(
      new TextEncoder().encode(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
      ),
    );
    const ws = new NativeWebSocket(conn, { role: "server", head: buf.slice(at + 4, end) });
    serve(ws);
    return ws;
  })();
  return {
    url: `ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`,
    accepted,
    close: () => l.close(),
  };
}

function echo(ws: NativeWebSocket): void {
  ws.on("message", (m: Uint8Array, binary: boolean) => ws.send(m, { binary }));
}

function wsClient(url: string, zeroMask = false): Promise<WebSocket> {
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...(zeroMask ? { generateMask: (m: Uint8Array) => m.fill(0) } : {}),
  } as WebSocket.ClientOptions);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function nextMessage(ws: WebSocket): Promise<Uint8Array> {
  return new Promise((r) => ws.once("message", (m: Uint8Array) => r(new Uint8Array(m))));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((r) =>
    ws.once(
      "close",
      (code: number, reason: Uint8Array) => r({ code, reason: new TextDecoder().decode(reason) }),
    )
  );
}

Deno.test("native WebSocket server: messages of every size echo to a ws client, random and zero masks", async () => {
  for (const zero of [false, true]) {
    const s = await nativeServer(echo);
    const ws = await wsClient(s.url, zero);
    await s.accepted;
    for (const size of [0, 1, 125, 126, 65535, 65536, 300_000, 1 << 20]) {
      const data = crypto.getRandomValues(new Uint8Array(Math.min(size, 65536)));
      const big = new Uint8Array(size);
      for (let i = 0; i < size; i += data.byteLength) big.set(data.subarray(0, size - i), i);
      const got = nextMessage(ws);
      ws.send(big);
      assertEquals(await got, big, `${size} bytes (zero mask: ${zero})`);
    }
    const done = closed(ws);
    ws.close(1000, "bye");
    assertEquals((await done).code, 1000);
    s.close();
  }
});

Deno.test("native WebSocket server: fragments are joined, pings answered, the close code echoed", async () => {
  let server!: NativeWebSocket;
  const s = await nativeServer((ws) => {
    server = ws;
    echo(ws);
  });
  const ws = await wsClient(s.url);
  await s.accepted;
  const got = nextMessage(ws);
  ws.send(new Uint8Array([1, 2]), { fin: false });
  ws.send(new Uint8Array([3]), { fin: true });
  assertEquals(await got, new Uint8Array([1, 2, 3]));
  const pong = new Promise((r) => ws.once("pong", r));
  ws.ping(new Uint8Array([9]));
  await pong;
  const serverClosed = new Promise<number>((r) => server.on("close", (code: number) => r(code)));
  const done = closed(ws);
  ws.close(4001, "done here");
  assertEquals((await done).code, 4001);
  assertEquals(await serverClosed, 4001);
  s.close();
});

Deno.test("native WebSocket server: unmasked frames are a protocol error (1002), oversize messages 1009", async () => {
  for (
    const [frame, code] of [
      [new Uint8Array([0x82, 0x01, 0x07]), 1002], // unmasked binary frame from a client
      [new Uint8Array([0x82, 0xff, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0]), 1009], // 256 MiB
      [new Uint8Array([0xf2, 0x80, 0, 0, 0, 0]), 1002], // reserved bits
      [new Uint8Array([0x80, 0x80, 0, 0, 0, 0]), 1002], // continuation with nothing to continue
    ] as const
  ) {
    const s = await nativeServer(() => {});
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(new URL(s.url).port) });
    await conn.write(
      new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      ),
    );
    const server = await s.accepted;
    const serverClosed = new Promise<number>((r) => server.on("close", (c: number) => r(c)));
    await conn.write(frame);
    // The answer: the 101 head, then a close frame carrying the code; then the end.
    const all: number[] = [];
    const buf = new Uint8Array(4096);
    for (let n; (n = await conn.read(buf)) !== null;) all.push(...buf.subarray(0, n));
    const bytes = new Uint8Array(all);
    const at = new TextDecoder().decode(bytes).indexOf("\r\n\r\n") + 4;
    assertEquals(bytes[at], 0x88, "a close frame");
    assertEquals((bytes[at + 2] << 8) | bytes[at + 3], code);
    assertEquals(await serverClosed, code);
    conn.close();
    s.close();
  }
});

Deno.test("native WebSocket client: the handshake, messages both ways, a refusal's status and message", async () => {
  const s = await nativeServer(echo);
  const r = await connectWebSocket(new URL(s.url), { "x-test": "1" }, false);
  assert(r.ok);
  await s.accepted;
  const got = new Promise<Uint8Array>((res) => r.ws.on("message", (m: Uint8Array) => res(m)));
  const data = new Uint8Array(randomBytes(300_000));
  r.ws.send(data, { binary: true });
  assertEquals(await got, data);
  const done = new Promise<number>((res) => r.ws.on("close", (c: number) => res(c)));
  r.ws.close(1000, "");
  assertEquals(await done, 1000);
  s.close();

  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  (async () => {
    const c = await l.accept();
    await c.read(new Uint8Array(4096));
    const body = JSON.stringify({ error: "forbidden", message: "Target not in allowlist" });
    await c.write(
      new TextEncoder().encode(
        `HTTP/1.1 403 Forbidden\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ),
    );
    c.close();
  })();
  const refused = await connectWebSocket(
    new URL(`ws://127.0.0.1:${(l.addr as Deno.NetAddr).port}/`),
    {},
    true,
  );
  assertEquals(refused, { ok: false, status: 403, message: "Target not in allowlist" });
  l.close();
});

Deno.test("native WebSocket: a send whose write the close cuts short still gets its callback", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([
    Deno.connect({ hostname: "127.0.0.1", port: (l.addr as Deno.NetAddr).port }),
    l.accept(),
  ]);
  l.close();
  // The peer never reads: the first large message's write blocks once the kernel's buffers fill.
  const ws = new NativeWebSocket(server, { role: "server", head: new Uint8Array(0) });
  ws.on("error", () => {});
  const results: (Error | undefined)[] = [];
  const sent = (n: number) =>
    new Promise<void>((r) =>
      ws.send(new Uint8Array(n), { binary: true }, (e) => {
        results.push(e);
        r();
      })
    );
  const all = [sent(16 << 20), sent(1 << 10), sent(1 << 20)];
  await new Promise((r) => setTimeout(r, 100));
  assertEquals(results.length, 0, "nothing was written yet: the peer reads nothing");
  ws.terminate();
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(all),
    new Promise((_, j) => (timer = setTimeout(() => j(new Error("a callback never ran")), 5_000))),
  ]);
  clearTimeout(timer);
  assertEquals(results.length, 3);
  assert(results.every((e) => e instanceof Error), "each send learns it was not written");
  client.close();
});

Deno.test("native WebSocket: pause stops reading after the current message; resume delivers the rest in order, and a close sent meanwhile", async () => {
  const got: string[] = [];
  let paused: () => void = () => {};
  const pausedOnce = new Promise<void>((r) => (paused = r));
  const server = nativeServer((ws) => {
    ws.on("message", (m: Uint8Array) => {
      got.push(new TextDecoder().decode(m));
      if (got.length === 1) {
        ws.pause();
        paused();
      }
    });
  });
  const client = await wsClient(server.url);
  const ws = await server.accepted;
  const ended = new Promise<number>((r) => ws.on("close", (code: number) => r(code)));
  // Ten messages at once, most of them in the same segment as the first.
  for (let i = 0; i < 10; i++) client.send(`m${i}`);
  await pausedOnce;
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(got, ["m0"], "nothing is delivered while paused");
  assert(ws.paused);
  ws.resume();
  ws.resume(); // a second resume starts no second reader
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(got, Array.from({ length: 10 }, (_, i) => `m${i}`));
  // Quiet, then more: read as it comes.
  client.send("later");
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(got.at(-1), "later");
  // Paused again, then the peer closes: unread until resumed, then the close handshake ends it.
  ws.pause();
  client.close(1000, "bye");
  await new Promise((r) => setTimeout(r, 200));
  assertEquals(ws.readyState, 1, "a paused socket reads nothing, the close frame included");
  ws.resume();
  assertEquals(await ended, 1000);
  server.close();
});

Deno.test("native WebSocket: terminated while paused, the socket ends and says so once", async () => {
  const server = nativeServer((ws) => ws.on("message", () => ws.pause()));
  const client = await wsClient(server.url);
  const ws = await server.accepted;
  let closes = 0;
  const ended = new Promise<void>((r) =>
    ws.on("close", () => {
      closes++;
      r();
    })
  );
  client.send("one");
  client.send("two");
  await new Promise((r) => setTimeout(r, 100));
  assert(ws.paused);
  const gone = closed(client);
  ws.terminate();
  await ended;
  assertEquals(ws.readyState, 3);
  await gone;
  await new Promise((r) => setTimeout(r, 50));
  assertEquals(closes, 1);
  server.close();
});
