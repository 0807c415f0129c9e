// End to end on the MongoDB store: the real cloud process started with NC_STORE=mongodb://…
// (FerretDB from the test fixture), the admin CLI writing to the same database, a real agent
// enrolled, and an operator's WebSocket tunnel carrying bytes both ways; after a cloud restart
// everything is still there and the agent's tunnels work again; an agent revoked by the admin
// CLI (another process) is cut off through the store's change counter.
import { MOTION_SHARD_LOCKS } from "../../src/cloud/events/motion_shards.ts";
import { MongoClient } from "mongodb";
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { startFerretDb } from "../_fixtures/ferretdb.ts";
import { echoThrough, randomBytes, sha256, Stack } from "../_fixtures/stack.ts";
import { JOB_NAMES } from "../../src/cloud/jobs/stats_jobs.ts";

Deno.test("a cloud on --store mongodb:// enrolls an agent and tunnels through it, across a restart", async () => {
  const ferret = await startFerretDb();
  try {
    await Stack.withEchoSite(async ({ stack, q, handle }) => {
      assert(
        stack.cloud.lines.some((l) => l.includes('"cloud ready"') && l.includes("mongodb://")),
        "the banner names the store",
      );
      const data = randomBytes(8 << 20);
      const r = await echoThrough(await stack.openTunnel(handle, q.apiToken), data);
      assertEquals(await sha256(r.received), await sha256(data));

      // The records are in MongoDB, not in an embedded file.
      const client = new MongoClient(ferret.url);
      try {
        const db = client.db();
        assertEquals(
          await db.collection("tenants").countDocuments({ _id: q.tenantId as never }),
          1,
        );
        assertEquals(await db.collection("agents").countDocuments({ tenantId: q.tenantId }), 1);
        assert(
          (await db.collection("audit").countDocuments({ action: "tunnel.open" })) >= 1,
          "the tunnel was audited in MongoDB",
        );
        // The background jobs (and the motion watch's shards, all of them: it is the only node)
        // ran under their leader locks, held by this node.
        const jobs = [...JOB_NAMES, ...MOTION_SHARD_LOCKS];
        const led = (owners: string[], job: string) =>
          owners.some((o) => o.startsWith(`lock:${job} node-1/`));
        const deadline = Date.now() + 15_000;
        let owners: string[] = [];
        while (!jobs.every((j) => led(owners, j)) && Date.now() < deadline) {
          // (`lock:motion-watch`, the version before's one lock, is only ever taken for a
          // moment each tick, to see that no node of that version holds it.)
          owners =
            (await db.collection("locks").find({ _id: { $ne: "lock:motion-watch" as never } })
              .toArray()).map((l) => `${l._id} ${l.owner}`);
          await new Promise((res) => setTimeout(res, 200));
        }
        assertEquals(owners.length, jobs.length, `job locks: ${owners}`);
        for (const job of jobs) assert(led(owners, job), `${job} led by node-1: ${owners}`);
      } finally {
        await client.close();
      }
      let files: string[] = [];
      try {
        files = [...Deno.readDirSync(stack.dataDir)].map((e) => e.name);
      } catch { /* no data dir */ }
      assert(!files.includes("connector.db"), `no embedded database: ${files}`);

      // Restart the cloud on the same ports: the agent comes back, the same handle works.
      const agent = stack.agents[0];
      const before = agent.count(/"control stream up"/);
      await stack.cloud.stop("SIGKILL");
      await stack.startCloud();
      const deadline = Date.now() + 60_000;
      while (agent.count(/"control stream up"/) <= before && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
      }
      assert(agent.count(/"control stream up"/) > before, "the agent reconnected");
      const again = randomBytes(1 << 20);
      const r2 = await echoThrough(await stack.openTunnel(handle, q.apiToken), again);
      assertEquals(await sha256(r2.received), await sha256(again));

      // Revoked from another process: the cloud learns it through the MongoDB change counter.
      const ws = await stack.openTunnel(handle, q.apiToken);
      const closed = new Promise<number>((res) => ws.on("close", (code: number) => res(code)));
      const agentId = JSON.parse(agent.lines.find((l) => l.includes("agent starting"))!).agent;
      await stack.admin("agent", "revoke", "--tenant", q.tenantId, "--agent", agentId);
      assertEquals(await closed, 1011, "the open tunnel is cut");
      await agent.waitFor(/agent revoked/, 10_000);
    }, { store: ferret.url });
  } finally {
    await ferret.stop();
  }
});
