// A real agent gives its memory back when it goes quiet (src/agent/idle_trim.ts): once after it
// has connected, not while a tunnel is open, and once more after the tunnel has closed.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { randomBytes, Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { IDLE_TRIM_QUIET_MS } from "../../src/agent/idle_trim.ts";

const TRIMMED = /"idle: memory trimmed"/;

Deno.test("agent idle trim: one collection after connecting, none with a tunnel open, one after it closed", async () => {
  await Stack.withEchoSite(async ({ stack, q, agent, handle }) => {
    const trims = () => agent.lines.filter((l) => TRIMMED.test(l));
    await until("the collection after connecting", () => trims().length === 1);
    const first = JSON.parse(trims()[0]);
    assert(first.afterMiB <= first.heapMiB, JSON.stringify(first));

    // A tunnel that moves bytes, then stays open without traffic: no collection meanwhile.
    const ws = await stack.openTunnel(handle, q.apiToken);
    const data = randomBytes(4 << 20);
    let echoed = 0;
    ws.on("message", (m: Uint8Array) => (echoed += m.byteLength));
    ws.send(data, { binary: true });
    await until("the echo of 4 MiB", () => echoed === data.byteLength);
    await new Promise((r) => setTimeout(r, 2 * IDLE_TRIM_QUIET_MS + 2000));
    assertEquals(trims().length, 1, "no collection while a tunnel is open");
    ws.close();
    await until("the collection after the tunnel closed", () => trims().length === 2);
  }, { runAgent: (stack, state) => stack.runAgent(state, true, { NC_LOG_LEVEL: "debug" }) });
});
