// The agent's state directory read back: no identity is "not enrolled" (null); a damaged
// `agent.json` — not JSON, or a field missing — is one line naming the file, what is wrong and
// the way out, never a JSON parser's position or a list of schema issues.
import { assert, assertEquals, assertRejects } from "../../_fixtures/assert.ts";
import { loadState } from "../../../src/agent/state.ts";
import { inTempDir } from "../../_fixtures/temp_dir.ts";

Deno.test("a damaged agent.json names the file, what is wrong and the way out", () =>
  inTempDir(async (dir) => {
    assertEquals(await loadState(dir), null, "nothing enrolled here");
    const cases: [string, RegExp][] = [
      ['{"agentId": "ag-x", "trunc', /\(not valid JSON\)/],
      ['{"agentId": ""}', /\(agentId: [^)]+\)/],
      ["[]", /\(the file: [^)]+\)/],
    ];
    for (const [text, why] of cases) {
      await Deno.writeTextFile(`${dir}/agent.json`, text);
      const e = await assertRejects(() => loadState(dir));
      const message = (e as Error).message;
      assert(
        message.startsWith(`the agent's identity file ${dir}/agent.json is damaged (`),
        message,
      );
      assert(why.test(message), message);
      assert(message.endsWith("or enroll again with --force and a fresh token"), message);
      assert(!message.includes("\n"), "one line");
    }
  }));
