// Early data through the real CLI, cloud and agent: a client that speaks first (a browser, a VMS)
// has its first bytes carried in the tunnel's upgrade request (the nanodems-early-data header),
// not sent after the cloud's answer — one round trip to the cloud less per connection — and they
// reach the device once and intact. `--no-early-data` sends them after the answer. A refused
// open still tells the operator why. Any WebSocket client may use the same header (a raw socket).
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { closedPort, echoServer, Proc, Stack } from "../_fixtures/stack.ts";
import {
  decodeEarlyData,
  DEVICE_PORT_HEADER,
  EARLY_DATA_HEADER,
  encodeEarlyData,
} from "../../src/shared/transport/early_data.ts";

/**
 * A proxy in front of the cloud's HTTP port that holds each connection's first bytes from the
 * cloud for `holdMs` before passing them on, and records, per connection, how many bytes the
 * client had sent by the time the cloud's first bytes were delivered to it. So what a client
 * sent before that moment was sent before it could have read any answer.
 */
function holdingProxy(upstream: number, holdMs: number) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: { up: Uint8Array[]; sentBeforeAnswer: number | null }[] = [];
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const c of l) {
      const u = await Deno.connect({ hostname: "127.0.0.1", port: upstream });
      open.add(c);
      open.add(u);
      const rec = { up: [] as Uint8Array[], sentBeforeAnswer: null as number | null };
      conns.push(rec);
      const buf1 = new Uint8Array(64 << 10);
      const buf2 = new Uint8Array(64 << 10);
      (async () => {
        for (;;) {
          const n = await c.read(buf1);
          if (n === null) return await u.closeWrite();
          rec.up.push(buf1.slice(0, n));
          await u.write(buf1.subarray(0, n));
        }
      })().catch(() => {});
      (async () => {
        let first = true;
        for (;;) {
          const n = await u.read(buf2);
          if (n === null) return await c.closeWrite();
          const chunk = buf2.slice(0, n);
          if (first) {
            first = false;
            await new Promise((r) => setTimeout(r, holdMs));
            rec.sentBeforeAnswer = rec.up.reduce((a, b) => a + b.byteLength, 0);
          }
          await c.write(chunk);
        }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (l.addr as Deno.NetAddr).port,
    /** The last connection that carried a tunnel upgrade: its request head and its length. */
    tunnel() {
      for (const r of [...conns].reverse()) {
        const all = new Uint8Array(r.up.reduce((a, b) => a + b.byteLength, 0));
        let at = 0;
        for (const b of r.up) all.set(b, (at += b.byteLength) - b.byteLength);
        const text = new TextDecoder("latin1").decode(all);
        if (!text.startsWith("GET /api/tunnel/")) continue;
        const headLength = text.indexOf("\r\n\r\n") + 4;
        return {
          head: text.slice(0, headLength),
          headLength,
          sentBeforeAnswer: r.sentBeforeAnswer,
        };
      }
      return null;
    },
    close() {
      l.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    },
  };
}

/** Connects to a CLI listener, sends `text` at once and reads until the peer's end. */
async function speakFirst(port: number, text: string): Promise<string> {
  const c = await Deno.connect({ hostname: "127.0.0.1", port });
  await c.write(new TextEncoder().encode(text));
  await c.closeWrite();
  return await speakFirstOn(c);
}

/** Reads `c` (as latin1, one character per byte) until `done` says so or the peer ends. */
async function readUntil(c: Deno.Conn, done: (text: string) => boolean): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  while (!done(text)) {
    const n = await c.read(buf);
    if (n === null) break;
    for (let i = 0; i < n; i++) text += String.fromCharCode(buf[i]);
  }
  return text;
}

/** Reads `c` until the peer's end, then closes it. */
async function speakFirstOn(c: Deno.Conn): Promise<string> {
  try {
    const parts: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await c.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(new Uint8Array(parts.flatMap((p) => [...p])));
  } finally {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

Deno.test("CLI early data: a client's first bytes ride in the upgrade request and reach the device once; --no-early-data sends them after the answer; a refused open still says why", async () => {
  const stack = await Stack.start();
  const echo = await echoServer();
  stack.defer(echo.close);
  const proxy = holdingProxy(stack.ports.http, 300);
  stack.defer(() => Promise.resolve(proxy.close()));
  try {
    const dead = closedPort();
    const q = await stack.quickstart([echo.port, dead]);
    await stack.agentFor(q);
    const open = async (handle: string, extra: string[] = []) => {
      const cli = new Proc(
        ["tunnel", "open", handle, "--cloud", `http://127.0.0.1:${proxy.port}`, ...extra],
        { NC_TOKEN: q.apiToken },
      );
      stack.defer(() => cli.stop("SIGKILL"));
      const line = await cli.waitFor(/listening on 127\.0\.0\.1:\d+/);
      return { cli, port: Number(/:(\d+)/.exec(line)![1]) };
    };
    const request = "GET /snapshot.jpg HTTP/1.1\r\nHost: camera\r\n\r\n";

    // A first open finds the link slow (the proxy holds each answer 300 ms): from then on an open
    // waits a moment for its client's first bytes, and dials its next connection at once.
    const early = await open(q.device.handles[echo.port]);
    assertEquals(await speakFirst(early.port, request), request);
    const got = await speakFirst(early.port, request);
    assertEquals(
      got,
      request,
      `the device got the bytes once; CLI:\n${early.cli.lines.join("\n")}`,
    );
    const t1 = proxy.tunnel();
    assert(t1, "the CLI's upgrade went through the proxy");
    const header = new RegExp(`^${EARLY_DATA_HEADER}: (\\S+)\r$`, "im").exec(t1.head);
    assert(header, `the request carries the client's bytes:\n${t1.head}`);
    assertEquals(new TextDecoder().decode(decodeEarlyData(header[1])!), request);
    assertEquals(t1.sentBeforeAnswer, t1.headLength, "nothing but the request before the answer");
    await early.cli.waitFor(
      new RegExp(`connection closed up=${request.length} down=${request.length}`),
    );

    const waiting = await open(q.device.handles[echo.port], ["--no-early-data"]);
    assertEquals(await speakFirst(waiting.port, request), request);
    assertEquals(await speakFirst(waiting.port, request), request);
    const t2 = proxy.tunnel();
    assert(t2);
    assert(!t2.head.toLowerCase().includes(EARLY_DATA_HEADER), t2.head);
    assertEquals(t2.sentBeforeAnswer, t2.headLength, "the bytes follow the answer");

    // The plain GET `tunnel open` checks with names the device port (no early wait toward SSH).
    const check = await fetch(`${stack.url}/api/tunnel/${q.device.handles[echo.port]}`, {
      headers: { authorization: `Bearer ${q.apiToken}` },
    });
    await check.body?.cancel();
    assertEquals(check.status, 426);
    assertEquals(check.headers.get(DEVICE_PORT_HEADER), String(echo.port));

    // A malformed header is the client's error, answered as one before any device is dialed.
    const accepted = echo.accepted();
    const raw = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
    await raw.write(new TextEncoder().encode(
      `GET /api/tunnel/${q.device.handles[echo.port]} HTTP/1.1\r\nHost: cloud\r\n` +
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        `Authorization: Bearer ${q.apiToken}\r\n${EARLY_DATA_HEADER}: not*base64\r\n\r\n`,
    ));
    const answer = await speakFirstOn(raw);
    assert(answer.startsWith("HTTP/1.1 400 "), answer);
    assert(answer.includes('"error":"bad_request"'), answer);
    assert(answer.includes(`invalid ${EARLY_DATA_HEADER} header`), answer);
    assertEquals(echo.accepted(), accepted, "no device was dialed for it");

    // Any WebSocket client may carry its first bytes the same way: the 101 confirms them, and
    // the device's answer (the echo) is the first frame, without the client sending a frame.
    const direct = await Deno.connect({ hostname: "127.0.0.1", port: stack.ports.http });
    await direct.write(new TextEncoder().encode(
      `GET /api/tunnel/${q.device.handles[echo.port]} HTTP/1.1\r\nHost: cloud\r\n` +
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        `Authorization: Bearer ${q.apiToken}\r\n` +
        `${EARLY_DATA_HEADER}: ${encodeEarlyData(new TextEncoder().encode(request))}\r\n\r\n`,
    ));
    const seen = await readUntil(direct, (b) => {
      const end = b.indexOf("\r\n\r\n");
      return end >= 0 && b.length >= end + 4 + 2 + request.length;
    });
    direct.close();
    const headEnd = seen.indexOf("\r\n\r\n") + 4;
    const head101 = seen.slice(0, headEnd);
    assert(head101.startsWith("HTTP/1.1 101 "), head101);
    assert(
      new RegExp(`^${EARLY_DATA_HEADER}: ${request.length}\r$`, "im").test(head101),
      `the 101 confirms the bytes:\n${head101}`,
    );
    // An unmasked binary frame (0x82) of the request's length, carrying the device's echo.
    assertEquals(seen.charCodeAt(headEnd), 0x82);
    assertEquals(seen.charCodeAt(headEnd + 1), request.length);
    assertEquals(seen.slice(headEnd + 2, headEnd + 2 + request.length), request);

    // A device port that refuses: the client's early bytes go nowhere, its connection ends,
    // and the CLI logs the cloud's reason as before.
    const refused = await open(q.device.handles[dead]);
    assertEquals(await speakFirst(refused.port, request), "");
    const line = await refused.cli.waitFor(/tunnel refused/);
    assert(line.includes("502") && line.includes("device unreachable"), line);
  } finally {
    await stack.stop();
  }
});
