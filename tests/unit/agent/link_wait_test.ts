// `connector agent status --wait`: what an installer says after starting the agent, read from a
// real link.json in a temp directory: online and tunnels ready, online with the data channel
// blocked (and why), online with no data outcome yet, not online (and the last reason), and a
// file whose writer is gone is never taken for the new agent's.
import { inTempDir } from "../../_fixtures/temp_dir.ts";
import { assertEquals } from "../../_fixtures/assert.ts";
import { type LinkStatus, writeLinkStatus } from "../../../src/agent/link_status.ts";
import { describeWait, waitForLink } from "../../../src/agent/link_wait.ts";

const HINT = { statusCommand: "connector-agent status --state /s", cloudUrl: "https://c.test" };
const FAST = { pollMs: 10, dataMs: 300 };

function link(over: Partial<LinkStatus>): LinkStatus {
  return { up: true, node: "node-2", reason: "", since: Date.now(), pid: Deno.pid, ...over };
}

Deno.test("link wait: online, then the data channel opens: tunnels ready", () =>
  inTempDir(async (dir) => {
    await writeLinkStatus(dir, link({ up: false, node: null, reason: "connecting" }));
    const later = (async () => {
      await new Promise((r) => setTimeout(r, 50));
      await writeLinkStatus(dir, link({}));
      await new Promise((r) => setTimeout(r, 50));
      await writeLinkStatus(dir, link({ data: { ok: true, since: Date.now(), reason: "" } }));
    })();
    const w = await waitForLink(dir, { onlineMs: 5_000, ...FAST, dataMs: 5_000 });
    await later;
    assertEquals(w, { kind: "ready", node: "node-2" });
    assertEquals(describeWait(w, HINT), [
      "the agent is online (control stream up via cloud node node-2)",
      "tunnels ready: the data channel to the cloud is open",
    ]);
  }));

Deno.test("link wait: online but the data port is blocked: a warning with the reason", () =>
  inTempDir(async (dir) => {
    const reason = "cloud.test:8444: Connection refused (os error 111)";
    await writeLinkStatus(dir, link({ data: { ok: false, since: Date.now(), reason } }));
    const w = await waitForLink(dir, { onlineMs: 1_000, ...FAST });
    assertEquals(w, { kind: "data_blocked", node: "node-2", reason });
    assertEquals(describeWait(w, HINT), [
      "the agent is online (control stream up via cloud node node-2)",
      `WARNING: the agent cannot open its data channel to the cloud: ${reason}`,
      "  no tunnel can reach this site until this machine may open outbound TCP connections to " +
      "the cloud's data port",
    ]);
  }));

Deno.test("link wait: online with no data outcome in time: says where to look", () =>
  inTempDir(async (dir) => {
    await writeLinkStatus(dir, link({}));
    const w = await waitForLink(dir, { onlineMs: 1_000, ...FAST });
    assertEquals(w, { kind: "data_pending", node: "node-2" });
    assertEquals(
      describeWait(w, HINT)[1],
      "the data channel to the cloud has not opened yet; see: connector-agent status --state /s",
    );
  }));

Deno.test("link wait: never online: the last reason and the cloud to check", () =>
  inTempDir(async (dir) => {
    assertEquals(await waitForLink(dir, { onlineMs: 50, ...FAST }), {
      kind: "offline",
      last: null,
    });
    const down = link({ up: false, node: null, reason: "tls: certificate unknown" });
    await writeLinkStatus(dir, down);
    const w = await waitForLink(dir, { onlineMs: 50, ...FAST });
    assertEquals(w, { kind: "offline", last: down });
    assertEquals(describeWait(w, HINT), [
      "the agent has not reached the cloud yet (last: tls: certificate unknown); check the logs " +
      "and that this machine reaches https://c.test",
    ]);
  }));

Deno.test("link wait: a file left by an agent that is gone does not pass for the new one", () =>
  inTempDir(async (dir) => {
    await writeLinkStatus(dir, link({ pid: 4_000_000, data: { ok: true, since: 1, reason: "" } }));
    const w = await waitForLink(dir, { onlineMs: 100, ...FAST, alive: (pid) => pid === Deno.pid });
    assertEquals(w, { kind: "offline", last: null });
  }));
