// Coalesced runs: one at a time per key; requests made during a run share the one run queued
// after it, which starts after every one of them; a failure reaches exactly the requests it
// covered; keys run independently.
import assert from "node:assert/strict";
import { CoalescedRuns } from "../../../../src/cloud/control/coalesce.ts";

/** Runs that wait for `release(key)`, logging each start with the value of `seen` then. */
function harness() {
  const started: string[] = [];
  const gates = new Map<string, (err?: Error) => void>();
  let seen = 0;
  const runs = new CoalescedRuns<string>((key) => {
    started.push(`${key}@${seen}`);
    return new Promise<void>((resolve, reject) =>
      gates.set(key, (err) => err ? reject(err) : resolve())
    );
  });
  const release = async (key: string, err?: Error) => {
    while (!gates.has(key)) await new Promise((r) => setTimeout(r, 1));
    const g = gates.get(key)!;
    gates.delete(key);
    g(err);
  };
  return { runs, started, release, bump: () => ++seen };
}

Deno.test("coalesce: a burst during a run is one run after it, started after every request", async () => {
  const { runs, started, release, bump } = harness();
  const first = runs.request("site-1");
  const burst = [];
  for (let i = 0; i < 10; i++) {
    bump(); // a change committed, then its push asked for
    burst.push(runs.request("site-1"));
  }
  assert.deepEqual(started, ["site-1@0"]);
  await release("site-1");
  await first;
  await release("site-1");
  await Promise.all(burst);
  assert.deepEqual(started, ["site-1@0", "site-1@10"], "two runs; the second saw all 10");
  // Idle again: the next request runs at once.
  const later = runs.request("site-1");
  assert.equal(started.length, 3);
  await release("site-1");
  await later;
});

Deno.test("coalesce: keys run apart; a failed run rejects only the requests it covered", async () => {
  const { runs, started, release } = harness();
  const a = runs.request("a");
  const b = runs.request("b");
  assert.deepEqual(started, ["a@0", "b@0"], "another key does not wait");
  const aAgain = runs.request("a");
  await release("a", new Error("store down"));
  await assert.rejects(a, /store down/);
  await release("a");
  await aAgain; // the queued run still ran, and succeeded
  await release("b");
  await b;
  assert.deepEqual(started, ["a@0", "b@0", "a@0"]);
});
