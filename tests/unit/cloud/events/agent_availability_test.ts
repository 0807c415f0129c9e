// The presence job's debounce as a pure function: a vanished agent waits out the grace period,
// a return inside it raises nothing, one outage is one agent.offline and one agent.online.
import assert from "node:assert/strict";
import {
  nextAvailability,
  presenceTickMs,
} from "../../../../src/cloud/events/agent_availability.ts";
import type { AgentAvailability } from "../../../../src/cloud/store/store.ts";

const agent = { id: "ag-1", tenantId: "t", siteId: "s" };
const GRACE = 30_000;

/** Runs observations (time, present) and returns the events raised. */
function run(observations: [number, boolean][]): string[] {
  let state: AgentAvailability | undefined;
  const events: string[] = [];
  for (const [t, present] of observations) {
    const r = nextAvailability(state, agent, present, t, GRACE);
    if (r.next) state = r.next;
    if (r.event) events.push(`${r.event}@${t}`);
  }
  return events;
}

Deno.test("presence debounce: a reconnect inside the grace raises nothing", () => {
  assert.deepEqual(
    run([[0, true], [1_000, false], [20_000, false], [29_000, true], [60_000, true]]),
    [],
  );
});

Deno.test("presence debounce: gone past the grace is one offline; back is one online", () => {
  assert.deepEqual(
    run([[0, true], [1_000, false], [30_999, false], [31_000, false], [40_000, false], [
      50_000,
      true,
    ], [55_000, true]]),
    ["agent.offline@31000", "agent.online@50000"],
  );
});

Deno.test("presence debounce: an agent never seen online raises nothing on its first start", () => {
  assert.deepEqual(run([[0, false], [60_000, false], [90_000, true], [95_000, true]]), []);
});

Deno.test("presence debounce: offline since the moment it vanished; the tick is a quarter of the grace", () => {
  const online = nextAvailability(undefined, agent, true, 0, GRACE).next!;
  const gone = nextAvailability(online, agent, false, 5_000, GRACE).next!;
  const off = nextAvailability(gone, agent, false, 40_000, GRACE);
  assert.equal(off.event, "agent.offline");
  assert.equal(off.next!.since, 5_000);
  assert.equal(presenceTickMs(30_000), 5_000);
  assert.equal(presenceTickMs(3_000), 750);
  assert.equal(presenceTickMs(100), 250);
});
