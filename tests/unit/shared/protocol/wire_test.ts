import { Buffer } from "node:buffer";
import { assertEquals } from "../../../_fixtures/assert.ts";
import { decodeDataHeader, encodeDataHeader } from "../../../../src/shared/protocol/wire.ts";
import {
  decodeAgentMessage,
  decodeCloudMessage,
  encodeAgentMessage,
  encodeCloudMessage,
} from "../../../../src/shared/protocol/control.ts";
import { generate } from "../../../../build/codegen.ts";

Deno.test("data header: round trip; foreign bytes rejected", () => {
  const ticket = crypto.getRandomValues(new Uint8Array(16));
  const h = encodeDataHeader(ticket);
  assertEquals(h.byteLength, 24);
  assertEquals(decodeDataHeader(h), ticket);
  assertEquals(decodeDataHeader(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n")), null);
  const bad = h.slice();
  bad[5] = 1;
  assertEquals(decodeDataHeader(bad), null);
});

Deno.test("control codec: messages round trip with large counters and bytes", () => {
  const hb = decodeAgentMessage(encodeAgentMessage({
    heartbeat: {
      activeStreams: 3,
      bytesUp: 5e12,
      bytesDown: 1,
      tunnelsOpened: 9,
      day: "2026-11-23",
    },
  }));
  assertEquals(hb.msg, "heartbeat");
  assertEquals(hb.heartbeat, {
    activeStreams: 3,
    bytesUp: 5e12,
    bytesDown: 1,
    tunnelsOpened: 9,
    day: "2026-11-23",
  });
  const open = decodeCloudMessage(encodeCloudMessage({
    openTunnel: { tunnelId: "t", host: "cam", port: 554, ticket: new Uint8Array([1, 2]) },
  }));
  assertEquals(open.msg, "openTunnel");
  assertEquals(Buffer.from(open.openTunnel!.ticket).toString("hex"), "0102");
  const push = decodeCloudMessage(encodeCloudMessage({ allowlist: { version: 7, entries: [] } }));
  assertEquals(push.allowlist, { version: 7, entries: [] });
});

Deno.test("generated protocol code is up to date with proto/control.proto", async () => {
  const proto = await Deno.readTextFile(
    new URL("../../../../proto/control.proto", import.meta.url),
  );
  const gen = await Deno.readTextFile(
    new URL("../../../../src/shared/protocol/control.gen.ts", import.meta.url),
  );
  assertEquals(gen, generate(proto, "control.proto"), "run `deno task codegen`");
});
