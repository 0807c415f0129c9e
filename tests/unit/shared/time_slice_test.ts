// The time slicer: under its budget a step continues at once (no turn of the event loop); over
// it, the step gives the event loop one turn and starts a new slice.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { countLoopTurns } from "../../_fixtures/loop_turns.ts";
import { timeSlicer } from "../../../src/shared/time_slice.ts";

Deno.test("time slicer: steps inside the budget never yield; past it, each slice yields once", async () => {
  const roomy = timeSlicer(60_000);
  const kept = await countLoopTurns(async () => {
    for (let i = 0; i < 1_000; i++) await roomy();
  });
  assertEquals(kept.turns, 0);

  const tight = timeSlicer(0);
  const given = await countLoopTurns(async () => {
    for (let i = 0; i < 10; i++) await tight();
  });
  assert(given.turns >= 9, `turns: ${given.turns}`);

  // A busy step of 5 ms with a 2 ms budget: the next call yields, the one after it does not.
  const slice = timeSlicer(2);
  const busy = Date.now() + 5;
  while (Date.now() < busy) { /* synchronous work */ }
  const one = await countLoopTurns(async () => {
    await slice();
    await slice();
  });
  assertEquals(one.turns, 1);
});
