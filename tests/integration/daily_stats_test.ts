// The daily totals an operator reads at /api/agents/{id}/daily: rolled up by the background
// jobs (under their leader lock) from the hourly rows the heartbeats wrote, one entry per UTC
// day with zeros where idle, tenant-scoped, with validated input.
import { assertEquals } from "../_fixtures/assert.ts";
import { hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import { runJobsOnce } from "../../src/cloud/jobs/stats_jobs.ts";

Deno.test("daily stats API: totals per UTC day from the rollup jobs, zeros where idle, scoped", async () => {
  const t = await startTestCloud();
  const { cloud, clock } = t;
  const store = cloud.store;
  try {
    // Forward from the cloud's start, so a job lock its own first tick took has expired.
    clock.set(Date.UTC(2027, 4, 10, 22, 30));
    const tokenFor = async (tenantId: string) => {
      const u = await store.createUser({
        tenantId,
        email: `${tenantId}@example.com`,
        passwordHash: "x",
        role: "viewer",
      });
      const token = mintToken("nt");
      await store.createApiToken({
        hash: await hashToken(token),
        tenantId,
        userId: u.id,
        name: "t",
      });
      return token;
    };
    const a = await store.createTenant({ name: "A" });
    const b = await store.createTenant({ name: "B" });
    const site = await store.createSite({ tenantId: a.id, name: "HQ" });
    const hash = "4".repeat(64);
    await store.createEnrollmentToken({
      hash,
      tenantId: a.id,
      siteId: site.id,
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    });
    const r = await store.consumeEnrollmentToken(hash, {
      id: "ag-daily",
      hostname: "h",
      version: "1",
      os: "linux",
      certSerial: "01",
    });
    assertEquals(r.ok, true);
    const report = (day: string, bytesUp: number) =>
      store.recordAgentCounters({
        agentId: "ag-daily",
        tenantId: a.id,
        day,
        bytesUp,
        bytesDown: 2 * bytesUp,
        tunnels: 1,
      });
    await report("2027-05-10", 1000); // 22:30
    clock.advance(3_600_000);
    await report("2027-05-10", 1500); // 23:30
    clock.advance(3_600_000);
    await report("2027-05-11", 70); // 00:30 next day
    clock.advance(3_600_000); // 01:30: hours 22, 23 and 00 are complete
    const owner = "it-node/1/x";
    // This runner or the cloud's own (if its tick came in between) rolls the hours up, once.
    await runJobsOnce({ store, clock, owner }, ["hourly-rollup"]);

    const tokenA = await tokenFor(a.id);
    const get = () =>
      t.call("GET", "/api/agents/ag-daily/daily?days=3", { authorization: `Bearer ${tokenA}` });
    let res = await get();
    // Should the cloud's own runner have led that tick, wait for it to finish.
    for (
      let i = 0;
      i < 50 && JSON.stringify(res.json).includes('"bytesUp":0,"bytesDown":0,"tunnels":0}]');
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
      res = await get();
    }
    assertEquals(res.status, 200);
    assertEquals(res.json, {
      agentId: "ag-daily",
      days: [
        { day: "2027-05-09", bytesUp: 0, bytesDown: 0, tunnels: 0 },
        { day: "2027-05-10", bytesUp: 1500, bytesDown: 3000, tunnels: 1 },
        { day: "2027-05-11", bytesUp: 70, bytesDown: 140, tunnels: 1 },
      ],
    });
    const dflt = await t.call("GET", "/api/agents/ag-daily/daily", {
      authorization: `Bearer ${tokenA}`,
    });
    assertEquals((dflt.json.days as unknown[]).length, 30, "30 days by default");

    const tokenB = await tokenFor(b.id);
    const other = await t.call("GET", "/api/agents/ag-daily/daily", {
      authorization: `Bearer ${tokenB}`,
    });
    assertEquals(other.status, 404, "another tenant's agent does not exist for it");
    for (const bad of ["0", "366", "x"]) {
      const r = await t.call("GET", `/api/agents/ag-daily/daily?days=${bad}`, {
        authorization: `Bearer ${tokenA}`,
      });
      assertEquals(r.status, 400);
      assertEquals(typeof r.json.message, "string");
    }
  } finally {
    await t.stop();
  }
});
