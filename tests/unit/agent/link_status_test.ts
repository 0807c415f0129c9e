import { assertEquals } from "../../_fixtures/assert.ts";
import {
  describeLink,
  processAlive,
  readLinkStatus,
  writeLinkStatus,
} from "../../../src/agent/link_status.ts";

Deno.test("link status: written 0600, read back, described for `agent status`", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assertEquals(await readLinkStatus(dir), null);
    const since = Date.UTC(2026, 10, 23, 12, 0, 0);
    await writeLinkStatus(dir, { up: true, node: "node-1", reason: "", since, pid: Deno.pid });
    assertEquals((await Deno.stat(`${dir}/link.json`)).mode! & 0o777, 0o600);
    const s = await readLinkStatus(dir);
    assertEquals(
      describeLink(s, processAlive(Deno.pid)),
      "up via node-1 since 2026-11-23 12:00:00 UTC",
    );
    assertEquals(
      describeLink({ ...s!, up: false, node: null, reason: "connection refused" }, true),
      "down since 2026-11-23 12:00:00 UTC: connection refused",
    );
    assertEquals(describeLink(s, false), "unknown (the agent is not running; last: up)");
    assertEquals(
      describeLink(null, false),
      "unknown (the agent has not run since it was installed)",
    );
    await Deno.writeTextFile(`${dir}/link.json`, "{garbage");
    assertEquals(await readLinkStatus(dir), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
