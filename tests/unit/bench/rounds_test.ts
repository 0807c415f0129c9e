// The bench's rounds (bench/rounds.ts): every path once per round in the same order, and each
// figure the median of its rounds with the range in its note.
import { assert, assertEquals, assertRejects, assertThrows } from "../../_fixtures/assert.ts";
import { interleaved, roundsNote, summarize } from "../../../bench/rounds.ts";

Deno.test("the median of an odd and an even count of samples, and the range", () => {
  assertEquals(summarize([4.6, 3.2, 3.15]), {
    median: 3.2,
    min: 3.15,
    max: 4.6,
    samples: [4.6, 3.2, 3.15],
  });
  assertEquals(summarize([2, 1, 4, 3]).median, 2.5);
  assertEquals(summarize([7]).median, 7);
});

Deno.test("no samples, or one that is not a number, is refused", () => {
  assertThrows(() => summarize([]), RangeError);
  assertThrows(() => summarize([1, NaN]), RangeError);
  assertThrows(() => summarize([1, Infinity]), RangeError);
});

Deno.test("the note names the count and range; one sample needs none", () => {
  assertEquals(roundsNote(summarize([3.2, 4.56, 3.15])), "median of 3 rounds (3.15–4.56)");
  assertEquals(roundsNote(summarize([11265, 17321])), "median of 2 rounds (11,265–17,321)");
  assertEquals(roundsNote(summarize([3.2])), "");
});

Deno.test("rounds interleave the items in the same order, one at a time", async () => {
  const order: string[] = [];
  let running = 0;
  const r = await interleaved(3, ["ssh", "cli", "ws"], async (item, round) => {
    running++;
    if (running > 1) throw new Error("two measured at once");
    order.push(`${item}${round}`);
    await new Promise((ok) => setTimeout(ok, 1));
    running--;
    return `${item}:${round}`;
  });
  assertEquals(order, ["ssh0", "cli0", "ws0", "ssh1", "cli1", "ws1", "ssh2", "cli2", "ws2"]);
  assertEquals(r.get("cli"), ["cli:0", "cli:1", "cli:2"]);
  const e = await assertRejects(() => interleaved(0, ["a"], () => Promise.resolve(1)));
  assert(e instanceof RangeError, String(e));
});
