// A log that cannot be written never stops the program: the sink drops and counts lines while
// its writer fails, reports how many were lost and why once writing works again, and finishes
// short writes. On a scripted writer (the full-disk case with a real agent process is
// tests/e2e/agent_log_full_test.ts).
import { assertEquals } from "../../_fixtures/assert.ts";
import { LogSink, type SyncWriter } from "../../../src/shared/log_sink.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A writer that fails while `failing`, and writes at most `max` bytes per call. */
function writer(max = Infinity) {
  const w = {
    failing: false,
    out: "",
    writeSync(p: Uint8Array): number {
      if (w.failing) throw new Error("No space left on device (os error 28)");
      const n = Math.min(p.byteLength, max);
      w.out += dec.decode(p.subarray(0, n));
      return n;
    },
  };
  return w;
}

Deno.test("a log sink drops lines it cannot write, then says how many were lost and why", () => {
  const w = writer();
  const sink = new LogSink(w satisfies SyncWriter, (lost, why) => `[${lost} lost: ${why}]\n`);
  sink.write(enc.encode("one\n"));
  w.failing = true;
  for (const l of ["two\n", "three\n", "four\n"]) sink.write(enc.encode(l)); // never throws
  assertEquals(sink.lost, 3);
  w.failing = false;
  sink.write(enc.encode("five\n"));
  sink.write(enc.encode("six\n"));
  assertEquals(w.out, "one\n[3 lost: No space left on device]\nfive\nsix\n");
  assertEquals(sink.lost, 0);
});

Deno.test("a log sink finishes short writes", () => {
  const w = writer(3);
  const sink = new LogSink(w, () => "");
  sink.write(enc.encode("a longer line than three bytes\n"));
  assertEquals(w.out, "a longer line than three bytes\n");
});
