// The PROXY protocol reader: v1 lines and v2 headers as HAProxy writes them (the spec's
// examples), each delivered whole, byte by byte and together with the RTSP request behind it —
// the request must come out intact; no header at all passes the bytes through; malformed
// headers are refused.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  ProxyHeaderError,
  readProxyHeader,
  V2_SIGNATURE,
} from "../../../../src/cloud/access/proxy_protocol.ts";
import type { ByteStream } from "../../../../src/shared/transport/byte_stream.ts";

const enc = new TextEncoder();
const REQUEST = "OPTIONS rtsp://cloud:9554/h-x/ RTSP/1.0\r\nCSeq: 1\r\n\r\n";
const SIG = [...V2_SIGNATURE];

/** A stream that reads `bytes` in pieces of `piece` bytes (0: all at once), then ends. */
function source(bytes: Uint8Array, piece: number): ByteStream {
  let at = 0;
  return {
    read(p) {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, piece || bytes.length, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
    write: (p) => Promise.resolve(p.length),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
}

async function drain(s: ByteStream): Promise<string> {
  const parts: number[] = [];
  const buf = new Uint8Array(7);
  for (let n; (n = await s.read(buf)) !== null;) parts.push(...buf.subarray(0, n));
  return new TextDecoder().decode(new Uint8Array(parts));
}

function v2(command: number, family: number, body: number[]): Uint8Array {
  return new Uint8Array([
    ...SIG,
    0x20 | command,
    family,
    body.length >> 8,
    body.length & 255,
    ...body,
  ]);
}

const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

Deno.test("PROXY protocol: v1 and v2 name the client; the request behind comes out intact", async () => {
  const ip6 = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x0a];
  const cases: [string, Uint8Array, string | null][] = [
    ["v1 TCP4", enc.encode("PROXY TCP4 198.51.100.7 192.0.2.1 56324 9554\r\n"), "198.51.100.7"],
    [
      "v1 TCP6",
      enc.encode("PROXY TCP6 2001:0DB8:1:2:0:0:0:a 2001:db8::1 56324 9554\r\n"),
      "2001:db8:1:2::a",
    ],
    ["v1 UNKNOWN", enc.encode("PROXY UNKNOWN\r\n"), null],
    ["v1 UNKNOWN, addresses", enc.encode("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"), null],
    [
      "v2 TCP4",
      v2(1, 0x11, [198, 51, 100, 7, 192, 0, 2, 1, 0xdc, 0x04, 0x25, 0x52]),
      "198.51.100.7",
    ],
    [
      "v2 TCP6 with a TLV",
      v2(1, 0x21, [...ip6, ...Array(16).fill(0), 0xdc, 0x04, 0x25, 0x52, 0x05, 0, 2, 0xab, 0xcd]),
      "2001:db8:1:2::a",
    ],
    ["v2 LOCAL (a health check)", v2(0, 0x00, []), null],
    ["v2 UNSPEC", v2(1, 0x00, []), null],
    ["no header", new Uint8Array(0), null],
  ];
  for (const [name, head, client] of cases) {
    for (const piece of [0, 1, 5]) {
      const h = await readProxyHeader(source(concat(head, enc.encode(REQUEST)), piece));
      assertEquals(h.client, client, `${name}, pieces of ${piece}`);
      assertEquals(await drain(h.stream), REQUEST, `${name}, pieces of ${piece}`);
    }
  }
});

Deno.test("PROXY protocol: malformed headers are refused; lookalikes that are not pass", async () => {
  const bad: [string, Uint8Array][] = [
    ["v1 without CRLF", enc.encode("PROXY TCP4 198.51.100.7 192.0.2.1 1 2")],
    ["v1 too long", enc.encode(`PROXY TCP4 ${"1".repeat(120)}\r\n`)],
    ["v1 family mismatch", enc.encode("PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n")],
    ["v1 not an address", enc.encode("PROXY TCP4 evil.example 192.0.2.1 1 2\r\n")],
    ["v1 bad port", enc.encode("PROXY TCP4 198.51.100.7 192.0.2.1 70000 2\r\n")],
    ["v1 unknown family", enc.encode("PROXY UDP4 198.51.100.7 192.0.2.1 1 2\r\n")],
    ["v2 version 3", new Uint8Array([...SIG, 0x31, 0x11, 0, 0])],
    ["v2 command 5", v2(5, 0x11, Array(12).fill(1))],
    ["v2 TCP4 too short", v2(1, 0x11, [198, 51, 100])],
    ["v2 too long", new Uint8Array([...SIG, 0x21, 0x11, 0xff, 0xff])],
    ["v2 cut", new Uint8Array([...SIG, 0x21, 0x11, 0, 12, 198])],
  ];
  for (const [name, bytes] of bad) {
    for (const tail of name === "v2 cut" ? [""] : ["", REQUEST]) {
      const e = await readProxyHeader(source(concat(bytes, enc.encode(tail)), 3)).then(
        () => null,
        (e) => e,
      );
      assert(e instanceof ProxyHeaderError, `${name}${tail ? ", then a request" : ""}: ${e}`);
    }
  }
  for (const plain of ["PROXZ", "\r\n\r\nOPTIONS", "P"]) {
    const h = await readProxyHeader(source(enc.encode(plain + REQUEST), 1));
    assertEquals(h.client, null, plain);
    assertEquals(await drain(h.stream), plain + REQUEST, plain);
  }
});
