import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import type { ByteStream } from "../../../../src/shared/transport/byte_stream.ts";
import {
  decodeEarlyData,
  EARLY_DATA_HEADER,
  EARLY_MAX,
  EarlyReader,
  encodeEarlyData,
} from "../../../../src/shared/transport/early_data.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** A byte stream whose reads the test settles one by one. */
function scripted() {
  const reads: { settle: (r: Uint8Array | null | Error) => void }[] = [];
  const stream: ByteStream = {
    read: (p) =>
      new Promise((resolve, reject) =>
        reads.push({
          settle: (r) => {
            if (r instanceof Error) return reject(r);
            if (r === null) return resolve(null);
            p.set(r);
            resolve(r.byteLength);
          },
        })
      ),
    write: (p) => Promise.resolve(p.byteLength),
    closeWrite: () => Promise.resolve(),
    close: () => {},
  };
  return { stream, reads };
}

/** One turn of the event loop (what a dial or a spare's take gives the read to land). */
const tick = () => new Promise((r) => setTimeout(r, 0));

/** Reads `n` bytes' worth of reads from `s` into one string. */
async function readText(s: ByteStream, size: number): Promise<string | null> {
  const p = new Uint8Array(size);
  const n = await s.read(p);
  return n === null ? null : dec(p.subarray(0, n));
}

Deno.test("early reader: bytes already there go in the header; confirmed, the pump reads on from the client; not, it reads them first", async () => {
  for (const confirmed of [true, false]) {
    const s = scripted();
    const r = new EarlyReader(s.stream);
    s.reads[0].settle(enc("GET / HTTP/1.1\r\n\r\n"));
    await tick();
    const first = await r.first(0);
    assertEquals(first && dec(first), "GET / HTTP/1.1\r\n\r\n");
    const pump = r.stream(confirmed);
    if (!confirmed) {
      assertEquals(await readText(pump, 4), "GET ", "the cloud did not take them: sent now");
      assertEquals(await readText(pump, 64), "/ HTTP/1.1\r\n\r\n");
    }
    const next = readText(pump, 64);
    assertEquals(s.reads.length, 2, "then the client itself, once");
    s.reads[1].settle(enc("more"));
    assertEquals(await next, "more");
  }
});

Deno.test("early reader: a first read larger than the header takes goes on to the pump; a read not there in time is the pump's", async () => {
  const big = scripted();
  const rb = new EarlyReader(big.stream);
  const bytes = new Uint8Array(EARLY_MAX + 100).fill(0x61);
  big.reads[0].settle(bytes);
  await tick();
  const first = await rb.first(0);
  assertEquals(first?.byteLength, EARLY_MAX);
  const pump = rb.stream(true);
  assertEquals((await readText(pump, 4096))?.length, 100, "the rest of that read, once");

  const late = scripted();
  const rl = new EarlyReader(late.stream);
  assertEquals(await rl.first(5), null, "nothing within the wait");
  const pl = rl.stream(true);
  const read = readText(pl, 64);
  late.reads[0].settle(enc("late"));
  assertEquals(await read, "late");
  assertEquals(late.reads.length, 1, "the read in flight, not a second one");
});

Deno.test("early reader: the client's end or error before the header is the pump's first read", async () => {
  const ended = scripted();
  const re = new EarlyReader(ended.stream);
  ended.reads[0].settle(null);
  assertEquals(await re.first(5), null);
  assertEquals(await re.stream(true).read(new Uint8Array(4)), null);

  const failed = scripted();
  const rf = new EarlyReader(failed.stream);
  failed.reads[0].settle(new Error("connection reset"));
  assertEquals(await rf.first(5), null);
  const e = await rf.stream(true).read(new Uint8Array(4)).catch((e) => e as Error);
  assert(e instanceof Error && e.message === "connection reset");
});

Deno.test("early data header: base64 of 1 to EARLY_MAX bytes, anything else refused", () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 255, 13, 10]);
  assertEquals(decodeEarlyData(encodeEarlyData(bytes)), bytes);
  const max = new Uint8Array(EARLY_MAX).fill(7);
  assertEquals(decodeEarlyData(encodeEarlyData(max))?.byteLength, EARLY_MAX);
  assertEquals(decodeEarlyData(encodeEarlyData(new Uint8Array(EARLY_MAX + 1))), null);
  for (const bad of ["", "!!!!", "abc", "YWJj=YWJj", "YQ", " YWJj", "YWJj\r\n"]) {
    assertEquals(decodeEarlyData(bad), null, JSON.stringify(bad));
  }
  assertEquals(EARLY_DATA_HEADER, "nanodems-early-data");
});
