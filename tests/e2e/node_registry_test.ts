// The node registry end to end: two real cloud processes on one store, started with different
// --audit-retention-days. The second node warns at start, naming both values; `admin nodes`
// lists both running with that difference (as JSON, and as indented blocks for a person),
// /metrics counts it for an alert rule; the second node's graceful stop lists it as stopped at
// once, and `admin node forget` removes it (an unknown name is refused, naming the known ones).
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { run, Stack } from "../_fixtures/stack.ts";
import { metric } from "../_fixtures/two_nodes.ts";

type Nodes = {
  nodes: {
    name: string;
    running: boolean;
    version: string;
    stoppedAt?: string;
    settings: Record<string, string>;
  }[];
  differences: string[];
};

Deno.test("node registry: two nodes with different shared settings warn and are listed; a stopped one is listed stopped at once, then forgotten", async () => {
  const n1 = await Stack.start({ cloudArgs: ["--audit-retention-days", "90"] });
  let n2: Stack | null = null;
  try {
    n2 = await Stack.start({ joining: n1, node: "node-2" });
    const line = JSON.parse(await n2.cloud.waitFor(/runs with --audit-retention-days/, 10_000));
    assertEquals(line.level, 40, "a warning");
    assertStringIncludes(
      line.msg,
      'node "node-1" runs with --audit-retention-days 90, this node (node-2) with off: give every node the same value',
    );
    assertEquals(n2.cloud.count(/runs with --/), 1, "one setting differs: one warning");
    // What an alert rule watches.
    assertEquals(await metric(n2, "connector_nodes_running"), 2);
    assertEquals(await metric(n2, "connector_node_setting_differences"), 1);

    const listed = await n1.admin<Nodes>("nodes");
    assertEquals(listed.nodes.map((n) => [n.name, n.running]), [["node-1", true], [
      "node-2",
      true,
    ]]);
    assertEquals(listed.nodes[0].settings["audit-retention-days"], "90");
    assertEquals(listed.nodes[1].settings["offline-grace"], "30s");
    assertEquals(listed.differences, ["audit-retention-days: node-1 90, node-2 off"]);
    // Without --json, for a person: each node a block, its settings indented under it.
    const plain = await run(
      ["cloud", "admin", "nodes", "--data-dir", n1.dataDir],
      n1.store ? { NC_STORE: n1.store } : {},
    );
    assertEquals(plain.code, 0, plain.stderr);
    assertStringIncludes(plain.stdout, "nodes:\n  - name: node-1\n    running: true\n");
    assertStringIncludes(plain.stdout, "  - name: node-2\n");
    assertStringIncludes(plain.stdout, "    settings:\n      audit-retention-days: 90\n");
    assertStringIncludes(
      plain.stdout,
      "differences:\n  - audit-retention-days: node-1 90, node-2 off\n",
    );

    const before = Date.now();
    const exit = await n2.cloud.stop("SIGTERM"); // what systemd or Ctrl-C sends
    assertEquals(exit.code, 0, "a graceful stop exits 0");
    assertEquals(n2.cloud.count(/marked stopped in the registry/), 1);
    await n2.stop();
    n2 = null;
    // A graceful stop says so: listed as not running at once (a crash takes 45 s), with when.
    const stopped = await n1.admin<Nodes>("nodes");
    assertEquals(stopped.nodes.map((n) => [n.name, n.running]), [["node-1", true], [
      "node-2",
      false,
    ]]);
    assertEquals(stopped.nodes[0].stoppedAt, undefined);
    const at = Date.parse(stopped.nodes[1].stoppedAt ?? "");
    assert(at >= before - 1_000 && at <= Date.now(), `stoppedAt ${stopped.nodes[1].stoppedAt}`);
    assertEquals(stopped.differences, [], "a stopped node's settings are not compared");
    const unknown = await run([
      "cloud",
      "admin",
      "node",
      "forget",
      "--node",
      "node-9",
      "--data-dir",
      n1.dataDir,
    ], n1.store ? { NC_STORE: n1.store } : {});
    assert(unknown.code !== 0);
    assertStringIncludes(unknown.stderr, 'no node "node-9" in the store (known: node-1, node-2)');
    assertEquals(await n1.admin("node", "forget", "--node", "node-2"), { forgotten: "node-2" });
    const after = await n1.admin<Nodes>("nodes");
    assertEquals(after.nodes.map((n) => n.name), ["node-1"]);
    assertEquals(after.differences, []);
  } finally {
    await n2?.stop();
    await n1.stop();
  }
});

Deno.test("node registry: a node with another cloud secret than its sibling is told which file to copy, and admin nodes lists the difference", async () => {
  const n1 = await Stack.start();
  let n2: Stack | null = null;
  try {
    n2 = await Stack.start({ joining: n1, node: "node-2" });
    assertEquals(n2.cloud.count(/has another/), 0, "joined as README says: the same secret and CA");
    // node-2's secret replaced by one of its own (a copy forgotten, a volume not mounted).
    await n2.cloud.stop("SIGTERM");
    const own = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
      .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
    await Deno.writeTextFile(`${n2.dataDir}/cloud-secret.key`, `${own}\n`, { mode: 0o600 });
    await n2.startCloud();
    const line = JSON.parse(await n2.cloud.waitFor(/has another cloud secret/, 10_000));
    assertEquals(line.level, 40);
    assert(
      /^node "node-1" has another cloud secret \(key [0-9a-f]{8}\) than this node \(node-2, key [0-9a-f]{8}\): copy one node's cloud-secret\.key to the others and restart them/
        .test(line.msg),
      line.msg,
    );
    assertEquals(n2.cloud.count(/has another agent CA/), 0, "the CA files are the same");
    const listed = await n1.admin<Nodes>("nodes");
    assertEquals(listed.differences.length, 1, JSON.stringify(listed.differences));
    assert(listed.differences[0].startsWith("cloud-secret: node-1 key "), listed.differences[0]);
  } finally {
    await n2?.stop();
    await n1.stop();
  }
});
