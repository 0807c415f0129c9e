// The node registry on a real SQLite store and a manual clock: two nodes' registries on one
// database announce themselves; each warns once per differing setting, naming both values, and
// not again on the next announcements; a node that stopped announcing, or said it stopped, is not
// compared; a different version is said once, at info level; one not seen for 7 days is
// forgotten; a graceful stop marks the node stopped at once, and its next start clears the mark.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import { ManualClock } from "../../../src/shared/clock.ts";
import { createLogger } from "../../../src/shared/log.ts";
import { formatDuration } from "../../../src/shared/duration.ts";
import { openSqliteStore } from "../../../src/cloud/store/sqlite.ts";
import type { NodeRecord } from "../../../src/cloud/store/store.ts";
import {
  driftWarning,
  isRunning,
  NODE_FORGET_MS,
  NODE_STALE_MS,
  settingDrift,
  sharedSettings,
  startNodeRegistry,
} from "../../../src/cloud/nodes.ts";
import { loadCloudConfig } from "../../../src/cloud/config.ts";

const node = (name: string, settings: Record<string, string>, seenAt = 0): NodeRecord => ({
  name,
  version: "0.1.0",
  startedAt: 0,
  seenAt,
  stoppedAt: null,
  internal: "",
  settings,
});

Deno.test("settingDrift: running siblings' differing settings, a setting one side lacks too", () => {
  const self = node("node-1", { a: "1", b: "2" });
  const others = [
    self,
    node("node-2", { a: "1", b: "3", c: "x" }),
    node("node-3", { a: "9", b: "2" }, -NODE_STALE_MS - 1), // not seen: not compared
    { ...node("node-4", { a: "7" }), stoppedAt: 0 }, // said it stopped: not compared
  ];
  assertEquals(settingDrift(self, others, 0), [
    { node: "node-2", setting: "b", here: "2", there: "3" },
    { node: "node-2", setting: "c", here: "(not known to this version)", there: "x" },
  ]);
});

Deno.test("sharedSettings: the defaults in the units the flags take", () => {
  assertEquals(sharedSettings(loadCloudConfig({})), {
    "audit-retention-days": "off",
    "event-retention-days": "90",
    "offline-grace": "30s",
    "motion-max-cameras": "2000",
    "enrollment-ttl": "1d",
    "agent-cert-days": "30",
    "tunnel-idle-timeout": "off",
    "webhook-retry": "10s",
    "allow-private-webhooks": "false",
    "allow-loopback-webhooks": "false",
    "webhook-proxy": "(not set)",
    smtp: "(not set)",
    "allow-link-local-devices": "false",
    "proxy-domain": "(not set)",
    "public-url": "(not set)",
    "trusted-proxies": "(not set)",
  });
  const set = sharedSettings(
    loadCloudConfig({
      "audit-retention-days": "90",
      "public-url": "https://cloud.example.com",
      "trusted-proxies": "203.0.113.7/32, 198.51.100.0/24",
      "webhook-proxy": "http://egress:secret@proxy.example.com:3128",
      smtp: "smtp://alerts:secret@mail.example.com",
    }),
  );
  assertEquals([
    set["audit-retention-days"],
    set["public-url"],
    set["trusted-proxies"],
    set["webhook-proxy"],
    set.smtp,
  ], [
    "90",
    "https://cloud.example.com",
    "198.51.100.0/24,203.0.113.7/32",
    "(set)",
    "(set)",
  ]);
});

Deno.test("shared identity: the cloud secret and agent CA by fingerprint; a node with others is told which files to copy, a version without them is not compared", () => {
  const pinA = `sha256:${"a".repeat(64)}`;
  const pinB = `sha256:${"b".repeat(64)}`;
  const mine = sharedSettings(loadCloudConfig({}), {
    secretKeyId: "1a2b3c4d",
    agentCaPins: `${pinB},${pinA}`,
  });
  assertEquals(mine["cloud-secret"], "key 1a2b3c4d");
  assertEquals(mine["agent-ca"], `sha256:${"a".repeat(16)},sha256:${"b".repeat(16)}`);
  assertEquals(
    sharedSettings(loadCloudConfig({}), {
      secretKeyId: "1a2b3c4d",
      agentCaPins: `${pinA},${pinB}`,
    })[
      "agent-ca"
    ],
    mine["agent-ca"],
    "the trust set, whichever CA is primary",
  );
  const { ["cloud-secret"]: _s, ["agent-ca"]: _c, ...flags } = mine;
  const self = node("node-2", mine);
  const drift = settingDrift(self, [
    self,
    node("node-1", { ...mine, "cloud-secret": "key 9f8e7d6c", "agent-ca": "sha256:cc" }),
    node("node-0", flags), // an older version, announcing neither
  ], 0);
  assertEquals(drift.map((d) => [d.node, d.setting]), [
    ["node-1", "agent-ca"],
    ["node-1", "cloud-secret"],
  ]);
  assertEquals(
    driftWarning("node-2", drift[1]),
    'node "node-1" has another cloud secret (key 9f8e7d6c) than this node (node-2, key 1a2b3c4d): copy one node\'s cloud-secret.key to the others and restart them (README "Several cloud nodes"): until then device credentials saved through one node do not open on the other, and webhook signatures and signed RTSP URLs differ by node',
  );
  assert(
    driftWarning("node-2", drift[0]).startsWith(
      'node "node-1" has another agent CA (sha256:cc) than this node (node-2, sha256:',
    ),
  );
  assert(driftWarning("node-2", drift[0]).includes("copy ca/agent-ca.pem and ca/agent-ca.key"));
});

Deno.test("formatDuration: the largest unit that divides exactly", () => {
  assertEquals(
    [86_400_000, 30_000, 90_000, 3_600_000, 250, 1_500].map(formatDuration),
    ["1d", "30s", "90s", "1h", "250ms", "1500ms"],
  );
});

/** Two nodes' stores on one SQLite database and one manual clock; `end` stops and removes all. */
async function oneDatabase() {
  const dir = await Deno.makeTempDir({ prefix: "nc-nodes-" });
  const clock = new ManualClock();
  const s1 = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const s2 = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const end = async (...stops: (() => Promise<void>)[]) => {
    for (const stop of stops) await stop();
    await s1.close();
    await s2.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, clock, s1, s2, end };
}

Deno.test("node registry: each node warns once per difference with both values; versions at info", async () => {
  const { dir, clock, s1, s2, end } = await oneDatabase();
  const logOf = (n: string) => `${dir}/${n}.log`;
  const registry = (store: typeof s1, name: string, version: string, retention: string) =>
    startNodeRegistry({
      store,
      clock,
      log: createLogger({ role: "test", format: "json", file: logOf(name) }),
      self: {
        name,
        version,
        startedAt: clock.now(),
        internal: "",
        settings: { "audit-retention-days": retention, "offline-grace": "30s" },
      },
      everyMs: 20,
    });
  const lines = async (n: string) =>
    (await Deno.readTextFile(logOf(n)).catch(() => "")).trim().split("\n").filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; msg: string });
  const stop1 = await registry(s1, "node-1", "0.1.0", "90");
  const stop2 = await registry(s2, "node-2", "0.1.1", "off");
  try {
    // Several announcements each (20 ms apart) on an unmoving clock: still one warning each.
    await new Promise((r) => setTimeout(r, 200));
    const warn1 = (await lines("node-1")).filter((l) => l.level === 40);
    const warn2 = (await lines("node-2")).filter((l) => l.level === 40);
    assertEquals(warn1.map((l) => l.msg), [
      'node "node-2" runs with --audit-retention-days off, this node (node-1) with 90: give every node the same value (leader-locked jobs follow whichever node leads; requests get the answer of the node they reach)',
    ]);
    assertEquals(warn2.length, 1);
    assert(warn2[0].msg.startsWith('node "node-1" runs with --audit-retention-days 90, this node'));
    const info1 = (await lines("node-1")).filter((l) => l.level === 30).map((l) => l.msg);
    assertEquals(info1, [
      'node "node-2" runs version 0.1.1, this node 0.1.0 (expected during a rolling upgrade)',
    ]);
    assertEquals((await s1.listNodes()).map((n) => n.name), ["node-1", "node-2"]);
  } finally {
    await end(stop1, stop2);
  }
});

Deno.test("node registry: a node not seen for 7 days is forgotten, once, with a line; a stopped one younger stays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-nodes-" });
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  const log = `${dir}/node-1.log`;
  const self = { name: "node-1", version: "0.1.0", internal: "", settings: {} };
  let stop = () => Promise.resolve();
  try {
    await store.putNode({ ...self, name: "node-old", startedAt: clock.now() });
    clock.advance(NODE_FORGET_MS - NODE_STALE_MS);
    await store.putNode({ ...self, name: "node-recent", startedAt: clock.now() });
    clock.advance(NODE_STALE_MS + 1);
    stop = await startNodeRegistry({
      store,
      clock,
      log: createLogger({ role: "test", format: "json", file: log }),
      self: { ...self, startedAt: clock.now() },
      everyMs: 20,
    });
    // node-old was last seen 7 days and 1 ms ago; node-recent 45 s and 1 ms ago (stopped).
    assertEquals((await store.listNodes()).map((n) => n.name), ["node-1", "node-recent"]);
    await new Promise((r) => setTimeout(r, 100));
    const lines = (await Deno.readTextFile(log)).trim().split("\n")
      .map((l) => JSON.parse(l) as { level: number; msg: string; node?: string });
    const forgot = lines.filter((l) => l.msg.startsWith("forgot node"));
    assertEquals(forgot.length, 1);
    assertEquals(forgot[0].level, 30);
    assertEquals(
      forgot[0].msg,
      'forgot node "node-old": not seen for 7d (last seen 2026-01-01T00:00:00.000Z); it is listed again if it starts',
    );
  } finally {
    await stop();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("node registry: a graceful stop marks the node stopped at once; its next start clears the mark", async () => {
  const { dir, clock, s1, s2, end } = await oneDatabase();
  const log = `${dir}/nodes.log`;
  const start = (store: typeof s1, name: string) =>
    startNodeRegistry({
      store,
      clock,
      log: createLogger({ role: "test", format: "json", file: log }),
      self: { name, version: "0.1.0", startedAt: clock.now(), internal: "", settings: {} },
      everyMs: 10,
    });
  const running = async () =>
    (await s1.listNodes()).filter((n) => isRunning(n, clock.now())).map((n) => n.name);
  const stop1 = await start(s1, "node-1");
  let stop2 = await start(s2, "node-2");
  try {
    assertEquals(await running(), ["node-1", "node-2"]);
    clock.advance(1_000);
    await stop2();
    await stop2(); // a second stop (signal twice) does nothing more
    // Within the 45 s a crashed node stays listed as running, a stopped one is not.
    assertEquals(await running(), ["node-1"]);
    const rec = (await s1.listNodes()).find((n) => n.name === "node-2")!;
    assertEquals(rec.stoppedAt, clock.now());
    // No announcement in flight or later undoes the mark.
    await new Promise((r) => setTimeout(r, 60));
    assertEquals(await running(), ["node-1"]);
    const said = (await Deno.readTextFile(log)).trim().split("\n")
      .map((l) => JSON.parse(l) as { msg: string })
      .filter((l) => l.msg.includes("marked stopped"));
    assertEquals(said.map((l) => l.msg), ['node "node-2" marked stopped in the registry']);
    // Started again: running, the mark gone.
    stop2 = await start(s2, "node-2");
    assertEquals(await running(), ["node-1", "node-2"]);
    assertEquals((await s1.listNodes()).map((n) => n.stoppedAt), [null, null]);
  } finally {
    await end(stop1, stop2);
  }
});
