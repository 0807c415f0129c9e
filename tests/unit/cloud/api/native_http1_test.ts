/**
 * The native HTTP/1.1 response the browser proxy writes on the front's connections
 * (`src/cloud/api/native_http1.ts`), read back as raw bytes from a real loopback socket: the
 * framing node:http would choose (a known length, Content-Length added for a body given at the
 * end, chunked for a stream, none for HEAD and 204), one write for a head with a small body,
 * "drain" after a full buffer, `Connection: close` ending the connection after the response,
 * and header values node:http refuses refused here too.
 */
import { assert, assertEquals, assertMatch, assertThrows } from "../../../_fixtures/assert.ts";
import { tcpPair } from "../../../_fixtures/loopback.ts";
import {
  Http1Request,
  Http1Response,
  nodeHeaders,
} from "../../../../src/cloud/api/native_http1.ts";

function request(method = "GET", fields: [string, string][] = [["host", "x"]]): Http1Request {
  return new Http1Request(
    {
      method,
      target: "/c/h/",
      headers: fields,
      rawHeaders: fields.flatMap(([k, v]) => [k, v]),
    },
    "127.0.0.1",
  );
}

/** Reads from `conn` until `enough` says so or the peer closes; the text read. */
async function readUntil(conn: Deno.Conn, enough: (s: string) => boolean): Promise<string> {
  let out = "";
  const buf = new Uint8Array(64 << 10);
  while (!enough(out)) {
    const n = await conn.read(buf);
    if (n === null) break;
    out += new TextDecoder("latin1").decode(buf.subarray(0, n));
  }
  return out;
}

Deno.test("native http1: a known length, an implicit one, HEAD and 204 without a body, then keep-alive", async () => {
  const { client, server } = await tcpPair();
  try {
    // 1: writeHead with Content-Length, then end(body).
    let res = new Http1Response(server, request(), { keepAlive: true });
    res.writeHead(200, { "content-type": "text/plain", "content-length": 5 });
    assert(res.headersSent);
    res.end(new TextEncoder().encode("hello"));
    assertEquals(await res.done, true);
    assert(res.writableFinished);
    let got = await readUntil(client, (s) => s.endsWith("hello"));
    assertMatch(got, /^HTTP\/1\.1 200 OK\r\n/);
    assertMatch(got, /\r\ncontent-length: 5\r\n/);
    assertMatch(got, /\r\nDate: .+ GMT\r\n/);
    assert(!/transfer-encoding/i.test(got), got);

    // 2: end(string) with no head yet: Content-Length is added, as node:http does.
    res = new Http1Response(server, request(), { keepAlive: true });
    res.setHeader("X-Thing", ["a", "b"]);
    res.end("{}");
    await res.done;
    got = await readUntil(client, (s) => s.endsWith("{}"));
    assertMatch(got, /\r\nContent-Length: 2\r\n/);
    assertMatch(got, /\r\nX-Thing: a\r\nX-Thing: b\r\n/);

    // 3: HEAD: the head only, even when a body is given.
    res = new Http1Response(server, request("HEAD"), { keepAlive: true });
    res.writeHead(404, { "content-length": 9 });
    res.end("not found");
    await res.done;
    // 4: 204 with no framing at all.
    res = new Http1Response(server, request(), { keepAlive: true });
    res.writeHead(204, "Nothing Here");
    res.end();
    await res.done;
    got = await readUntil(client, (s) => s.includes("Nothing Here") && s.endsWith("\r\n\r\n"));
    assertMatch(got, /^HTTP\/1\.1 404 Not Found\r\ncontent-length: 9\r\nDate: [^\r]+\r\n\r\n/);
    assert(!got.includes("not found"), "HEAD got a body");
    assertMatch(got, /HTTP\/1\.1 204 Nothing Here\r\nDate: [^\r]+\r\n\r\n$/);
  } finally {
    client.close();
    server.close();
  }
});

Deno.test("native http1: a stream is chunked, waits for drain, and Connection: close ends the connection after it", async () => {
  const { client, server } = await tcpPair();
  try {
    const res = new Http1Response(server, request("GET", [["connection", "close"]]), {
      keepAlive: false,
    });
    res.writeHead(200, { "content-type": "multipart/x-mixed-replace; boundary=f" });
    res.flushHeaders();
    const head = await readUntil(client, (s) => s.includes("\r\n\r\n"));
    assertMatch(head, /\r\nTransfer-Encoding: chunked\r\n/);
    assertMatch(head, /\r\nConnection: close\r\n/);
    // Nobody reads: writes fill the buffers until `write` says wait, then "drain" comes once
    // the client reads.
    const piece = new Uint8Array(256 << 10).fill(0x61);
    let writes = 0;
    while (res.write(piece)) writes++;
    assert(writes < 64, `write never asked to wait (${writes} pieces)`);
    const drained = new Promise<void>((r) => res.on("drain", r));
    const reading = readUntil(client, (s) => s.endsWith("0\r\n\r\n"));
    await drained;
    res.end();
    assertEquals(await res.done, false, "a closing response leaves nothing to reuse");
    const body = await reading;
    const size = (writes + 1) * piece.byteLength;
    let sum = 0;
    for (const m of body.matchAll(/(?:^|\r\n)([0-9a-f]+)\r\n/g)) sum += parseInt(m[1], 16);
    assertEquals(sum, size);
    // The server ended the connection after the last chunk.
    assertEquals(await client.read(new Uint8Array(1)), null);
  } finally {
    client.close();
    try {
      server.close();
    } catch { /* closed by the response */ }
  }
});

Deno.test("native http1: bad header values throw as node:http's do; destroy closes and says close", async () => {
  const { client, server } = await tcpPair();
  try {
    const res = new Http1Response(server, request(), { keepAlive: true });
    assertThrows(() => res.setHeader("X-A", "one\r\nInjected: yes"), TypeError);
    assertThrows(() => res.setHeader("Bad Name", "v"), TypeError);
    assertThrows(() => res.setHeader("X-A", "snow ☃"), TypeError);
    assertThrows(() => res.writeHead(1000), RangeError);
    res.setHeader("X-Latin", "caf\u00e9");
    res.writeHead(200, { "content-length": 0 });
    assertThrows(() => res.setHeader("X-Late", "1"), Error);
    let closed = false;
    res.on("close", () => closed = true);
    res.destroy();
    assert(closed);
    assertEquals(await res.done, false);
    assertEquals(res.write(new Uint8Array(1)), false);
    // Nothing was written: the head was fixed but never sent.
    assertEquals(await client.read(new Uint8Array(16)), null);
  } finally {
    client.close();
  }
});

Deno.test("native http1: a device's head as pairs: order and repeats kept, its Connection: close obeyed", async () => {
  const { client, server } = await tcpPair();
  try {
    const res = new Http1Response(server, request(), { keepAlive: true });
    assertThrows(
      () => res.writeHeadPairs(200, "OK", [["X-A", "bad\nvalue"]]),
      TypeError,
    );
    assert(!res.headersSent, "a refused head is not fixed");
    res.setHeader("X-First", "1");
    res.writeHeadPairs(200, "Fine", [
      ["Set-Cookie", "a=1"],
      ["Content-Type", "text/plain"],
      ["Set-Cookie", "b=2"],
      ["Connection", "close"],
      ["Content-Length", "2"],
    ]);
    res.end("ok");
    assertEquals(await res.done, false, "Connection: close ends the connection");
    const got = await readUntil(client, (s) => s.endsWith("ok"));
    assertMatch(
      got,
      /^HTTP\/1\.1 200 Fine\r\nX-First: 1\r\nSet-Cookie: a=1\r\nContent-Type: text\/plain\r\nSet-Cookie: b=2\r\nConnection: close\r\nContent-Length: 2\r\nDate: [^\r]+\r\n\r\nok$/,
    );
    assertEquals(await client.read(new Uint8Array(1)), null);
  } finally {
    client.close();
  }
});

Deno.test("native http1: fields as node:http joins them", () => {
  const h = nodeHeaders([
    ["host", "a"],
    ["host", "b"],
    ["cookie", "x=1"],
    ["cookie", "y=2"],
    ["accept", "text/html"],
    ["accept", "*/*"],
    ["set-cookie", "s=1"],
    ["set-cookie", "t=2"],
  ]);
  assertEquals(h.host, "a");
  assertEquals(h.cookie, "x=1; y=2");
  assertEquals(h.accept, "text/html, */*");
  assertEquals(h["set-cookie"], ["s=1", "t=2"]);
});
