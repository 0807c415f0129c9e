// The RTSP framing and rewriting the gateway relies on: messages and interleaved frames split at
// every byte boundary, malformed input reported (never thrown), URLs mapped both ways with the
// signed token kept on the client side and stripped on the device side, SDP and Content-Length.
import { assert, assertEquals } from "../../../../_fixtures/assert.ts";
import {
  header,
  MAX_HEADER_BYTES,
  parseNext,
  type RtspMessage,
  serialize,
  setHeader,
} from "../../../../../src/cloud/access/rtsp/message.ts";
import {
  parseClientUri,
  rewriteMessage,
  rewriteRtpInfo,
  RouteMap,
} from "../../../../../src/cloud/access/rtsp/rewrite.ts";
import { tcpTransports } from "../../../../../src/cloud/access/rtsp/session.ts";
import { wholeFrames } from "../../../../../src/cloud/access/rtsp/demux.ts";
import { gatewayToken } from "../../../../../src/cloud/access/rtsp/auth.ts";
import { splitRoute } from "../../../../../src/cloud/access/rtsp/signed_url.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const H = "h-AAAAAAAAAAAAAAAAAAAAAA";

Deno.test("rtsp message: a request with a body, then a frame, parsed at every split point", () => {
  const sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\n";
  const text = `ANNOUNCE rtsp://c/${H}/x RTSP/1.0\r\nCSeq: 7\r\nContent-Type: application/sdp\r\n` +
    `Content-Length: ${sdp.length}\r\n\r\n${sdp}`;
  const frame = new Uint8Array([0x24, 1, 0, 3, 9, 8, 7]);
  const all = new Uint8Array([...enc(text), ...frame]);
  for (let cut = 0; cut < all.length; cut++) {
    const p = parseNext(all.subarray(0, cut));
    assert(p.kind === "more" || (p.kind === "message" && cut >= text.length), `cut ${cut}`);
  }
  const m = parseNext(all);
  assert(m.kind === "message");
  assertEquals(m.size, text.length);
  assert(m.message.start.kind === "request" && m.message.start.method === "ANNOUNCE");
  assertEquals(header(m.message, "cseq"), "7");
  assertEquals(new TextDecoder().decode(m.message.body), sdp);
  const f = parseNext(all.subarray(m.size));
  assertEquals(f, { kind: "frame", channel: 1, size: 7 });
  const r = parseNext(enc("RTSP/1.0 200 OK\nCSeq: 1\n\n"));
  assert(r.kind === "message" && r.message.start.kind === "response", "bare LF accepted");
});

Deno.test("rtsp message: malformed input is an error value, never an exception", () => {
  const bad = [
    "GET / HTTP/1.1\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/2.0\r\n\r\n",
    "RTSP/1.1 200 OK\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\nNo colon here\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\n: empty name\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\n folded first\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\nContent-Length: -1\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\nContent-Length: 99999999\r\n\r\n",
    "DESCRIBE rtsp://x RTSP/1.0\r\nX: a\x00b\r\n\r\n",
    `DESCRIBE rtsp://x RTSP/1.0\r\n${"X-A: b\r\n".repeat(101)}\r\n`,
  ];
  for (const b of bad) assertEquals(parseNext(enc(b)).kind, "error", JSON.stringify(b));
  assertEquals(parseNext(new Uint8Array(MAX_HEADER_BYTES).fill(65)).kind, "error");
  // Random bytes: any answer but an exception.
  for (let i = 0; i < 2000; i++) {
    const junk = crypto.getRandomValues(new Uint8Array(1 + (i % 300)));
    if (i % 3 === 0) junk.set(enc("OPTIONS * RTSP/1.0\r\n").subarray(0, junk.length));
    parseNext(junk);
  }
});

Deno.test("rtsp message: serialize fixes Content-Length; setHeader replaces in place", () => {
  const m: RtspMessage = {
    start: { kind: "response", status: 200, reason: "OK" },
    headers: [["CSeq", "2"], ["content-length", "999"], ["X", "1"], ["x", "2"]],
    body: enc("abc"),
  };
  setHeader(m, "X", "3");
  assertEquals(m.headers, [["CSeq", "2"], ["content-length", "999"], ["X", "3"]]);
  const text = new TextDecoder().decode(serialize(m));
  assertEquals(text, "RTSP/1.0 200 OK\r\nCSeq: 2\r\ncontent-length: 3\r\nX: 3\r\n\r\nabc");
  setHeader(m, "X", null);
  m.body = new Uint8Array(0);
  assertEquals(new TextDecoder().decode(serialize(m)), "RTSP/1.0 200 OK\r\nCSeq: 2\r\n\r\n");
});

Deno.test("rtsp rewrite: client and device URLs both ways; the token stays on the client side", () => {
  const c = parseClientUri(`rtsp://cloud:9554/${H}.TOKEN/live/cam1?a=1&nc=QTOKEN&b=2`)!;
  assertEquals(c, {
    authority: "cloud:9554",
    route: `${H}.TOKEN`,
    rest: "/live/cam1",
    query: "?a=1&b=2",
    queryToken: "QTOKEN",
  });
  assertEquals(splitRoute(c.route), { handle: H, token: "TOKEN" });
  assertEquals(splitRoute(H), { handle: H, token: null });
  assertEquals(parseClientUri("rtsp://cloud:9554"), null);
  assertEquals(parseClientUri("http://cloud/h/x"), null);
  const map = new RouteMap("cloud:9554", `${H}.TOKEN`, "192.0.2.7", 554);
  assertEquals(
    map.toDevice(`rtsp://cloud:9554/${H}.TOKEN/live/cam1/stream=0?nc=x`),
    "rtsp://192.0.2.7:554/live/cam1/stream=0",
  );
  assertEquals(map.toDevice(`rtsp://other/${H}/live`), "rtsp://192.0.2.7:554/live");
  assertEquals(
    map.toDevice("rtsp://cloud/h-BBBBBBBBBBBBBBBBBBBBBB/x"),
    "rtsp://cloud/h-BBBBBBBBBBBBBBBBBBBBBB/x",
  );
  assertEquals(
    map.toClient("rtsp://192.0.2.7:554/live/cam1/"),
    `rtsp://cloud:9554/${H}.TOKEN/live/cam1/`,
  );
  assertEquals(map.toClient("rtsp://10.9.9.9/x"), `rtsp://cloud:9554/${H}.TOKEN/x`);
  assertEquals(map.toClient("stream=0"), "stream=0", "relative URLs stay relative");
  assertEquals(new RouteMap("c", H, "fd00::1", 554).deviceBase, "rtsp://[fd00::1]:554");
  assertEquals(
    rewriteRtpInfo(
      "url=rtsp://d/a/t0;seq=1;rtptime=2, url=rtsp://d/a/t1;seq=3",
      map.toClient.bind(map),
    ),
    `url=rtsp://cloud:9554/${H}.TOKEN/a/t0;seq=1;rtptime=2, url=rtsp://cloud:9554/${H}.TOKEN/a/t1;seq=3`,
  );
});

Deno.test("rtsp rewrite: SDP a=control and URL headers, with Content-Length following the body", () => {
  const sdp = "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\na=control:rtsp://192.0.2.7:554/live/\r\n" +
    "m=video 0 RTP/AVP 96\r\na=control:rtsp://192.0.2.7:554/live/stream=0\r\n" +
    "m=audio 0 RTP/AVP 97\r\na=control:stream=1\r\n";
  const m: RtspMessage = {
    start: { kind: "response", status: 200, reason: "OK" },
    headers: [
      ["CSeq", "2"],
      ["Content-Base", "rtsp://192.0.2.7:554/live/"],
      ["Content-Type", "application/sdp"],
      ["Content-Length", String(sdp.length)],
    ],
    body: enc(sdp),
  };
  const map = new RouteMap("127.0.0.1:9554", H, "192.0.2.7", 554);
  rewriteMessage(m, (u) => map.toClient(u));
  const out = new TextDecoder().decode(serialize(m));
  const base = `rtsp://127.0.0.1:9554/${H}`;
  assert(out.includes(`Content-Base: ${base}/live/\r\n`), out);
  assert(out.includes(`a=control:${base}/live/stream=0\r\n`), out);
  assert(out.includes("a=control:stream=1\r\n"), "relative control untouched");
  assert(out.includes("o=- 1 1 IN IP4 192.0.2.7\r\n"), "other lines byte for byte");
  const body = out.slice(out.indexOf("\r\n\r\n") + 4);
  assertEquals(Number(/Content-Length: (\d+)/.exec(out)![1]), body.length);
});

Deno.test("rtsp rewrite: an SDP with a UTF-8 session name keeps every byte of it", () => {
  // "–" is E2 80 93 and "ő" C5 91: bytes 0x80–0x9F, which a windows-1252 read would change.
  const sdp = "v=0\r\ns=Kamera Flur – Eingang ő\r\na=control:rtsp://192.0.2.7:554/live/\r\n";
  const m: RtspMessage = {
    start: { kind: "response", status: 200, reason: "OK" },
    headers: [["Content-Type", "application/sdp"]],
    body: enc(sdp),
  };
  const map = new RouteMap("127.0.0.1:9554", H, "192.0.2.7", 554);
  rewriteMessage(m, (u) => map.toClient(u));
  const text = new TextDecoder("utf-8", { fatal: true }).decode(m.body);
  assert(text.includes("s=Kamera Flur – Eingang ő\r\n"), text);
  assert(text.includes(`a=control:rtsp://127.0.0.1:9554/${H}/live/\r\n`), text);
});

Deno.test("rtsp gateway: transports and credentials", () => {
  assertEquals(tcpTransports("RTP/AVP;unicast;client_port=5000-5001"), null);
  assertEquals(tcpTransports("RTP/AVP/UDP;multicast"), null);
  assertEquals(
    tcpTransports("RTP/AVP;unicast;client_port=1-2,RTP/AVP/TCP;unicast;interleaved=0-1"),
    "RTP/AVP/TCP;unicast;interleaved=0-1",
  );
  const nt = `nt_${"a".repeat(43)}`;
  assertEquals(gatewayToken(`Basic ${btoa(`anyone:${nt}`)}`), nt);
  assertEquals(gatewayToken(`Basic ${btoa("admin:camera-password")}`), null, "a camera's own");
  assertEquals(gatewayToken('Digest username="x"'), null);
  assertEquals(gatewayToken("Basic !!!"), null);
  assertEquals(gatewayToken(null), null);
});

Deno.test("rtsp demux: runs of whole frames are found; a cut frame or a message ends the run", () => {
  const f = (n: number) => [0x24, 0, 0, n, ...new Array(n).fill(7)];
  assertEquals(wholeFrames(new Uint8Array([...f(3), ...f(0), ...f(5)])), 7 + 4 + 9);
  assertEquals(wholeFrames(new Uint8Array([...f(3), ...f(5).slice(0, 6)])), 7);
  assertEquals(wholeFrames(new Uint8Array([...f(3), ...enc("RTSP/1.0 200 OK\r\n")])), 7);
  assertEquals(wholeFrames(new Uint8Array([0x24, 0, 1])), 0);
  assertEquals(wholeFrames(enc("PLAY")), 0);
});
