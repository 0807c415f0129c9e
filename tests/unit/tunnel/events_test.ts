/** The CLI's event-stream parser: events split across chunks, comments, multi-line data. */
import { assertEquals } from "../../_fixtures/assert.ts";
import { parseEvents } from "../../../src/tunnel/events.ts";

Deno.test("parseEvents: chunk boundaries anywhere, comments skipped, data lines joined", async () => {
  const text = ': connected\n\nevent: plan\ndata: {"a":\ndata: 1}\n\n: keepalive\n\r\n' +
    'event: revoked\r\ndata: {"message":"credentials revoked"}\r\n\r\n';
  const bytes = new TextEncoder().encode(text);
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      for (let i = 0; i < bytes.length; i += 7) c.enqueue(bytes.subarray(i, i + 7));
      c.close();
    },
  });
  const got = [];
  for await (const e of parseEvents(body)) got.push(e);
  assertEquals(got, [
    { event: "plan", data: '{"a":\n1}' },
    { event: "revoked", data: '{"message":"credentials revoked"}' },
  ]);
});
