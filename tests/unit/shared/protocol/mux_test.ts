import { assertEquals, assertRejects } from "../../../_fixtures/assert.ts";
import {
  decodeClose,
  decodeOpen,
  decodeWindow,
  encodeClose,
  encodeOpen,
  encodeWindow,
  FRAME_HEADER,
  FrameType,
  MAX_PAYLOAD,
  MAX_WINDOW,
  ProtocolError,
  readHeader,
  writeHeader,
} from "../../../../src/shared/protocol/mux.ts";
import { decodeDataHeader, encodeDataHeader } from "../../../../src/shared/protocol/wire.ts";

function header(type: number, stream: number, length: number): Uint8Array {
  const b = new Uint8Array(FRAME_HEADER);
  writeHeader(b, 0, type as 1, stream, length);
  return b;
}

function refused(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProtocolError) return e.message;
    throw e;
  }
  throw new Error("accepted");
}

Deno.test("mux frame header: round trip with the largest ids and lengths", () => {
  const b = header(FrameType.DATA, 0xffffffff, MAX_PAYLOAD);
  assertEquals(b.byteLength, 12);
  assertEquals(readHeader(b, 0), { type: FrameType.DATA, stream: 0xffffffff, length: MAX_PAYLOAD });
  assertEquals(readHeader(header(FrameType.FIN, 7, 0), 0), {
    type: FrameType.FIN,
    stream: 7,
    length: 0,
  });
});

Deno.test("mux frame header: what no peer may send is a protocol error", () => {
  assertEquals(refused(() => readHeader(header(FrameType.DATA, 1, 0), 0)), "empty DATA frame");
  assertEquals(
    refused(() => readHeader(header(FrameType.DATA, 1, MAX_PAYLOAD + 1), 0)),
    `frame of ${MAX_PAYLOAD + 1} bytes exceeds the max`,
  );
  assertEquals(
    refused(() => readHeader(header(FrameType.CLOSE, 1, 0xffffffff), 0)),
    "frame of 4294967295 bytes exceeds the max",
  );
  assertEquals(refused(() => readHeader(header(FrameType.DATA, 0, 5), 0)), "stream id 0");
  assertEquals(refused(() => readHeader(header(99, 1, 0), 0)), "unknown frame type 99");
  assertEquals(
    refused(() => readHeader(header(FrameType.WINDOW, 1, 8), 0)),
    "WINDOW payload must be 4 bytes",
  );
  assertEquals(refused(() => readHeader(header(FrameType.FIN, 1, 3), 0)), "unexpected payload");
  assertEquals(readHeader(header(FrameType.PING, 0, 8), 0), {
    type: FrameType.PING,
    stream: 0,
    length: 8,
  });
  assertEquals(refused(() => readHeader(header(FrameType.PING, 3, 8), 0)), "PING/PONG on a stream");
  assertEquals(
    refused(() => readHeader(header(FrameType.PONG, 0, 9), 0)),
    "PING/PONG payload must be 8 bytes",
  );
  const flagged = header(FrameType.DATA, 1, 1);
  flagged[1] = 0x80;
  assertEquals(refused(() => readHeader(flagged, 0)), "non-zero flags or reserved bytes");
});

Deno.test("mux payloads: OPEN, CLOSE and WINDOW round trip; bad ones are refused", async () => {
  assertEquals(decodeOpen(encodeOpen("camera.lan", 554)), { host: "camera.lan", port: 554 });
  assertEquals(decodeOpen(encodeOpen("fd00::1", 65535)), { host: "fd00::1", port: 65535 });
  await assertRejects(() => Promise.resolve().then(() => encodeOpen("", 80)));
  await assertRejects(() => Promise.resolve().then(() => encodeOpen("x", 0)));
  assertEquals(refused(() => decodeOpen(new Uint8Array([0, 0, 65]))), "OPEN with port 0");
  assertEquals(refused(() => decodeOpen(new Uint8Array([0, 80, 0xff]))), "OPEN host is not UTF-8");
  assertEquals(decodeClose(encodeClose("dial_timeout", "no answer")), {
    code: "dial_timeout",
    reason: "no answer",
  });
  assertEquals(decodeClose(new Uint8Array([200, 65])), { code: "error", reason: "A" });
  assertEquals(encodeClose("error", "x".repeat(5000)).byteLength, 1024);
  assertEquals(decodeWindow(encodeWindow(MAX_WINDOW)), MAX_WINDOW);
  assertEquals(refused(() => decodeWindow(encodeWindow(0))), "bad WINDOW increment 0");
  assertEquals(
    refused(() => decodeWindow(new Uint8Array([0x80, 0, 0, 0]))),
    "bad WINDOW increment 2147483648",
  );
});

Deno.test("data connection preface: version 2 (the mux framing); a version 1 header is refused", () => {
  const ticket = crypto.getRandomValues(new Uint8Array(16));
  const h = encodeDataHeader(ticket);
  assertEquals(h[3], 2);
  assertEquals(decodeDataHeader(h), ticket);
  const v1 = h.slice();
  v1[3] = 1;
  assertEquals(decodeDataHeader(v1), null);
});
