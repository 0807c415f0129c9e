// No request from the network may end the node (issue 11, finding 1): malformed upgrade targets
// that used to kill the cloud with "URIError: URI malformed", a malformed Host on an upgrade,
// and garbage on every listener. Each is answered (or dropped) and the process keeps serving —
// without reaching the last-resort handler, which would mean a handler forgot to catch.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";

/** Sends raw bytes and returns whatever the server answers before it closes (or 3 s pass). */
async function raw(port: number, text: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode(text));
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), 3_000);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } catch { /* closed by the timer or reset */ }
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* closed */ }
  return new TextDecoder().decode(
    chunks.reduce((a, b) => new Uint8Array([...a, ...b]), new Uint8Array()),
  );
}

const upgrade = (target: string, host = "127.0.0.1") =>
  `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

Deno.test("malformed requests on every listener are answered and the node keeps serving", async () => {
  const stack = await Stack.start();
  try {
    for (const target of ["/api/tunnel/%", "/api/tunnel/%E0%A4%A", "/api/tunnel/%ff%fe"]) {
      const answer = await raw(stack.ports.http, upgrade(target));
      assert(answer.startsWith("HTTP/1.1 400 "), `${target}: ${answer.slice(0, 80)}`);
      const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
      assertEquals(body.error, "bad_request");
      assert(typeof body.message === "string" && !/URIError|at /.test(body.message));
    }
    // A malformed Host on an upgrade, and upgrades under the proxy prefix with broken escapes.
    for (const req of [upgrade("/api/tunnel/h-x", "[::1"), upgrade("/c/%/", "127.0.0.1")]) {
      const answer = await raw(stack.ports.http, req);
      assert(/^HTTP\/1\.1 4\d\d /.test(answer), answer.slice(0, 80));
    }
    // Plain requests with broken escapes.
    for (const target of ["/api/sites/%", "/c/%E0%A4%A/", "/%"]) {
      const answer = await raw(stack.ports.http, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert(/^HTTP\/1\.1 4\d\d /.test(answer), `${target}: ${answer.slice(0, 80)}`);
    }
    // Garbage on the RTSP gateway and on the agents' data port.
    await raw(stack.ports.rtsp, "\x00\xff$\x00\xff\xffDESCRIBE %%% RTSP/1.0\r\nCSeq: x\r\n\r\n");
    await raw(stack.ports.rtsp, "OPTIONS rtsp://x/%/ RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    await raw(stack.ports.data, "\x16\x03\x01\x00\x05hello");

    const live = await fetch(`${stack.url}/healthz/live`);
    assertEquals(live.status, 200);
    await live.body?.cancel();
    assertEquals(stack.cloud.count(/survived/), 0, "a handler let an error escape");
    assertEquals(stack.cloud.count(/URIError/), 0);
  } finally {
    await stack.stop();
  }
});
