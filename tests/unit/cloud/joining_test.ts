// A node joining a cloud brings the shared files: with a sibling on the store and any of the
// agent CA, the internal CA certificate or the cloud secret missing, the node refuses to start,
// listing each missing file and the commands that copy them; the first node, a node that has its
// files (the internal CA key may stay elsewhere), and a sibling forgotten after 7 days do not
// stop it.
import { assert, assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { inTempDir } from "../../_fixtures/temp_dir.ts";
import { ManualClock } from "../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../src/cloud/store/sqlite.ts";
import { joinRefusal, missingSharedFiles } from "../../../src/cloud/joining.ts";
import { NODE_FORGET_MS } from "../../../src/cloud/nodes.ts";

const announce = (name: string) => ({
  name,
  version: "1.0.0",
  startedAt: 0,
  internal: "",
  settings: {},
});

Deno.test("joining: a node lacking the shared files is refused while a sibling belongs to the store", async () => {
  await inTempDir(async (dir) => {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
    try {
      const files = { dataDir: `${dir}/node-2`, secretPath: `${dir}/node-2/cloud-secret.key` };
      await Deno.mkdir(`${dir}/node-2`);
      assertEquals(await joinRefusal(store, "node-1", files, clock.now()), null, "the first node");
      await store.putNode(announce("node-1"));
      assertEquals(
        await joinRefusal(store, "node-1", files, clock.now()),
        null,
        "its own record is not a sibling",
      );
      const refusal = await joinRefusal(store, "node-2", files, clock.now());
      assert(refusal);
      assertStringIncludes(refusal, 'node "node-1" already belongs to this cloud (same store');
      for (const f of ["ca/agent-ca.pem", "ca/agent-ca.key", "ca/internal-ca.pem"]) {
        assertStringIncludes(refusal, `\n  ${dir}/node-2/${f}\n`);
      }
      assertStringIncludes(refusal, `\n  ${dir}/node-2/cloud-secret.key\nHad it made its own`);
      assertStringIncludes(
        refusal,
        `  scp -p '<host of node-1>:<its data dir>/cloud-secret.key' ${dir}/node-2/cloud-secret.key`,
      );
      assert(!refusal.includes("internal-ca.key"), "the internal CA key may stay on node-1");

      // The files copied, the internal CA key left behind: it starts.
      await Deno.mkdir(`${dir}/node-2/ca`);
      for (const f of ["ca/agent-ca.pem", "ca/agent-ca.key", "ca/internal-ca.pem"]) {
        await Deno.writeTextFile(`${dir}/node-2/${f}`, "x");
      }
      assertEquals(await missingSharedFiles(files), [`${dir}/node-2/cloud-secret.key`]);
      await Deno.writeTextFile(files.secretPath, "x");
      assertEquals(await joinRefusal(store, "node-2", files, clock.now()), null);

      // A sibling not seen for NODE_FORGET_MS is forgotten: a new first node may start.
      await Deno.remove(files.secretPath);
      clock.advance(NODE_FORGET_MS + 1);
      assertEquals(await joinRefusal(store, "node-2", files, clock.now()), null);
    } finally {
      await store.close();
    }
  });
});
