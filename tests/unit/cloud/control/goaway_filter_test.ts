// The GOAWAY filter of the control relay: every HTTP/2 frame passes byte for byte except a
// client's GOAWAY, whichever way the bytes are cut into reads.
import { Buffer } from "node:buffer";
import { PassThrough } from "node:stream";
import { assertEquals } from "../../../_fixtures/assert.ts";
import {
  dropClientGoaway,
  type FilteredSocket,
} from "../../../../src/cloud/control/goaway_filter.ts";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

function frame(type: number, stream: number, payload: Uint8Array): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** Feeds `input` in reads of the given sizes (cycled) and collects what the filter yields. */
async function filtered(input: Buffer, sizes: number[]): Promise<Buffer> {
  const sock = new PassThrough() as unknown as FilteredSocket;
  const d = dropClientGoaway(sock);
  const got: Buffer[] = [];
  d.on("data", (b: Buffer) => got.push(b));
  const ended = new Promise((r) => d.on("end", r));
  for (let off = 0, i = 0; off < input.length; i++) {
    const n = sizes[i % sizes.length];
    sock.write(input.subarray(off, off + n));
    off += n;
  }
  sock.end();
  await ended;
  return Buffer.concat(got);
}

Deno.test("goaway filter: drops client GOAWAY frames, passes everything else byte for byte", async () => {
  const settings = frame(0x4, 0, new Uint8Array(12).fill(1));
  const headers = frame(0x1, 1, new Uint8Array(40).fill(2));
  const data = frame(0x0, 1, new Uint8Array(70_000).fill(3));
  const goaway = frame(0x7, 0, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 0, 9, 9, 9]));
  const ping = frame(0x6, 0, new Uint8Array(8).fill(4));
  const empty = frame(0x0, 3, new Uint8Array(0));
  const input = Buffer.concat([PREFACE, settings, headers, goaway, data, empty, goaway, ping]);
  const want = Buffer.concat([PREFACE, settings, headers, data, empty, ping]);
  for (const sizes of [[input.length], [1], [3, 7], [9], [10, 4, 25], [24, 9, 1, 100, 65_536]]) {
    const got = await filtered(input, sizes);
    assertEquals(got.length, want.length, `reads of ${sizes.join(",")}`);
    assertEquals(got.equals(want), true, `reads of ${sizes.join(",")}`);
  }
});

Deno.test("goaway filter: writes reach the socket untouched", async () => {
  const sock = new PassThrough() as unknown as FilteredSocket;
  const d = dropClientGoaway(sock);
  const out: Buffer[] = [];
  sock.on("data", (b: Buffer) => out.push(b));
  const goaway = frame(0x7, 0, new Uint8Array(8));
  await new Promise<void>((r) => d.write(goaway, () => r()));
  assertEquals(Buffer.concat(out).equals(goaway), true);
  d.destroy();
});
