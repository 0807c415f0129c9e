// The internal (node-to-node) CA rotated on a running two-node cloud on FerretDB: `connector cloud
// admin ca rotate --ca internal` on node-1, its files copied to node-2 after each phase (README
// "Rotating the agent CA", on several nodes), while a bridged tunnel in each direction carries bytes all
// along; after every phase new bridges work both ways, and at the end a node certificate from the
// dropped CA is refused on the internal listener. Also a rollback from update-clients.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { type Stack, steadyTunnel } from "../_fixtures/stack.ts";
import { agentOnEach, copyRotation, handshake, twoNodes } from "../_fixtures/two_nodes.ts";
import { until } from "../_fixtures/until.ts";
import { issuedBy } from "../../src/shared/crypto/pki.ts";

interface InternalStatus {
  phase: string;
  primaryPin: string;
  renewalsPin: string;
  oldPin: string | null;
  newPin: string | null;
}

/** Two nodes with an agent on each, and the rotation driven on node-1 and copied to node-2. */
async function setUp() {
  const { n1, n2, stop } = await twoNodes();
  const { agents, ways, bridgesWork } = await agentOnEach(n1, n2);
  /** `ca rotate --ca internal --phase` on node-1, copied to node-2; both running nodes apply it. */
  const rotate = async (phase: string) => {
    const r = await n1.admin<InternalStatus>("ca", "rotate", "--ca", "internal", "--phase", phase);
    assertEquals(r.phase, phase);
    await copyRotation(n1, n2, "internal");
    const applied = new RegExp(`"ca":"internal","phase":"${phase}".*internal CA rotation phase`);
    for (const n of [n1, n2]) await n.cloud.waitFor(applied, 30_000);
    const s2 = await n2.admin<InternalStatus>("ca", "status", "--ca", "internal");
    assertEquals([s2.phase, s2.primaryPin, s2.renewalsPin], [phase, r.primaryPin, r.renewalsPin]);
    // The internal listeners re-read the trusted CAs and their leaf every second.
    await new Promise((res) => setTimeout(res, 1_500));
    return r;
  };
  /** This node's certificate and key as they are on disk now. */
  const nodeCert = async (n: Stack) => ({
    cert: await Deno.readTextFile(`${n.dataDir}/tls/node.pem`),
    key: await Deno.readTextFile(`${n.dataDir}/tls/node.key`),
  });
  return { n1, n2, agents, ways, bridgesWork, rotate, nodeCert, stop };
}

Deno.test("internal CA rotation on two nodes: bridges work both ways after every phase, steady tunnels stay intact, the old CA's node certificate is refused at the end", async () => {
  const { n1, n2, agents, ways, bridgesWork, rotate, nodeCert, stop } = await setUp();
  try {
    await bridgesWork("before the rotation");
    const steady = await Promise.all(
      ways.map((w) => steadyTunnel(w.entry, w.handle, w.q.apiToken)),
    );
    const oldCa = await Deno.readTextFile(`${n1.dataDir}/ca/internal-ca.pem`);
    const oldLeaf = await nodeCert(n2);
    assert(await issuedBy(oldLeaf.cert, oldCa));

    const init = await rotate("init");
    assertEquals((await rotate("init")).newPin, init.newPin, "init again changes nothing");
    const newCa = await Deno.readTextFile(`${n1.dataDir}/ca/internal-ca.secondary.pem`);
    await bridgesWork("after init");

    await rotate("update-clients");
    // Nodes are the internal CA's clients: both now hold node certificates from the new CA.
    for (const n of [n1, n2]) {
      await until(`${n.node} on a new-CA node certificate`, async () => {
        return await issuedBy((await nodeCert(n)).cert, newCa);
      });
    }
    await bridgesWork("after update-clients");

    await rotate("update-servers");
    await bridgesWork("after update-servers");

    const end = await rotate("standby");
    assertEquals([end.phase, end.primaryPin], ["standby", init.newPin]);
    await bridgesWork("after standby");

    // The steady tunnels never broke: every byte came back in order.
    for (const [i, s] of steady.entries()) {
      const r = await s.finish();
      assert(r.bytes > 0);
      assertEquals(r.got, r.sent, `${ways[i].name}: the steady tunnel's bytes intact`);
    }
    // The dropped CA's node certificate is refused on both internal listeners; the current one
    // is accepted (the control case).
    for (const n of [n1, n2]) {
      const refused = await handshake(n.ports.internal, oldLeaf.cert, oldLeaf.key, newCa);
      assert(refused !== null, `${n.node} accepted a node certificate from the dropped CA`);
    }
    const leaf = await nodeCert(n2);
    assertEquals(await handshake(n1.ports.internal, leaf.cert, leaf.key, newCa), null);
    await until("the refusal audited", async () => {
      const audit = await n1.admin<{ entries: { action: string }[] }>(
        "audit",
        "--action",
        "internal.reject_certificate",
      );
      return audit.entries.length > 0;
    }, 10_000);
    // Agents never noticed.
    for (const a of agents) assertEquals(a.count(/control stream lost/), 0);
  } finally {
    await stop();
  }
});

Deno.test("internal CA rollback from update-clients on two nodes: node certificates return to the old CA, bridges work, the new CA's certificate is refused at the end", async () => {
  const { n1, n2, bridgesWork, rotate, nodeCert, stop } = await setUp();
  try {
    const oldCa = await Deno.readTextFile(`${n1.dataDir}/ca/internal-ca.pem`);
    const init = await rotate("init");
    await rotate("update-clients");
    const newCa = await Deno.readTextFile(`${n1.dataDir}/ca/internal-ca.secondary.pem`);
    await until(
      "node-2 on the new CA",
      async () => await issuedBy((await nodeCert(n2)).cert, newCa),
    );
    const newLeaf = await nodeCert(n2);
    await bridgesWork("in update-clients");

    await rotate("rollback");
    for (const n of [n1, n2]) {
      await until(`${n.node} back on the old CA`, async () => {
        return await issuedBy((await nodeCert(n)).cert, oldCa);
      });
    }
    await bridgesWork("after rollback");
    const end = await rotate("standby");
    assertEquals(end.primaryPin, init.oldPin);
    await bridgesWork("after standby");
    const refused = await handshake(n1.ports.internal, newLeaf.cert, newLeaf.key, oldCa);
    assert(refused !== null, "a node certificate from the rolled-back CA was accepted");
  } finally {
    await stop();
  }
});
