import { assertEquals } from "../../../_fixtures/assert.ts";
import { chooseAgent } from "../../../../src/cloud/tenancy/agent_choice.ts";

Deno.test("agent choice: pinned when online, else fewest streams then id, null when none", () => {
  const online = [
    { agentId: "ag-b", activeStreams: 1 },
    { agentId: "ag-c", activeStreams: 0 },
    { agentId: "ag-a", activeStreams: 0 },
  ];
  assertEquals(chooseAgent("ag-b", online), "ag-b");
  assertEquals(chooseAgent("ag-gone", online), "ag-a");
  assertEquals(chooseAgent(null, online), "ag-a");
  assertEquals(
    chooseAgent(null, [{ agentId: "ag-z", activeStreams: 0 }, {
      agentId: "ag-a",
      activeStreams: 3,
    }]),
    "ag-z",
  );
  assertEquals(chooseAgent("ag-a", []), null);
});
