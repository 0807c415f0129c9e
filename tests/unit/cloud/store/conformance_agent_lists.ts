/**
 * Conformance cases for the paged agent reads ({@linkcode Store.queryAgents},
 * {@linkcode Store.scanAgents}, {@linkcode Store.countAgentsBySite}, {@linkcode Store.getPresenceOf},
 * {@linkcode Store.getAgentCountersOf}), registered by `storeConformance` for every backend.
 * @module
 */
import assert from "node:assert/strict";
import type { ManualClock } from "../../../../src/shared/clock.ts";
import type { Agent, Store } from "../../../../src/cloud/store/store.ts";
import { registerAgent } from "../../../_fixtures/store_agents.ts";

type Case = (title: string, fn: (store: Store, clock: ManualClock) => Promise<void>) => void;

const up = (agentId: string, tenantId: string, siteId: string, activeStreams = 0) => ({
  agentId,
  tenantId,
  siteId,
  node: "node-1",
  endpoint: "",
  activeStreams,
  bytesUp: 0,
  bytesDown: 0,
});

/** Registers the cases with the backend's `test`. */
export function agentListsConformance(test: Case): void {
  test("queryAgents: pages oldest first, searches, tenant-scoped", async (store, clock) => {
    const a = await store.createTenant({ name: "Acme" });
    const b = await store.createTenant({ name: "Bolt" });
    const hq = await store.createSite({ tenantId: a.id, name: "HQ" });
    const depot = await store.createSite({ tenantId: a.id, name: "North_Depot 100%" });
    const other = await store.createSite({ tenantId: b.id, name: "HQ" });
    const made: Agent[] = [];
    for (let i = 0; i < 25; i++) {
      made.push(
        await registerAgent(store, clock, { tenantId: a.id, siteId: i < 20 ? hq.id : depot.id }, {
          id: `ag-${String(i).padStart(2, "0")}`,
          hostname: i === 3 ? "NVR-Lobby" : `box-${i}`,
          version: i === 4 ? "2.0.0-rc1" : "1.0.0",
        }),
      );
      clock.advance(i % 2); // some share a millisecond: insertion order breaks the tie
    }
    assert.equal(await store.renameAgent(a.id, "ag-05", "Gate camera PC"), true);
    made[5] = (await store.getAgent("ag-05"))!;
    await registerAgent(store, clock, { tenantId: b.id, siteId: other.id }, { id: "ag-bolt" });
    assert.equal(await store.revokeAgent(a.id, "ag-07"), true);
    made[7] = (await store.getAgent("ag-07"))!;

    const p1 = await store.queryAgents(a.id, { limit: 10 });
    assert.equal(p1.total, 25);
    assert.deepEqual(p1.agents, made.slice(0, 10), "oldest first, whole records");
    const p3 = await store.queryAgents(a.id, { offset: 20, limit: 10 });
    assert.deepEqual(p3.agents.map((x) => x.id), made.slice(20).map((x) => x.id));
    assert.equal((await store.queryAgents(a.id, { offset: 99 })).agents.length, 0);
    for (const offset of [Infinity, 1e300, 2 ** 63]) {
      assert.deepEqual(
        await store.queryAgents(a.id, { offset }),
        { agents: [], total: 25 },
        `offset ${offset} reads as the end`,
      );
    }
    assert.equal((await store.queryAgents(a.id, { offset: NaN, limit: NaN })).agents.length, 25);
    assert.equal((await store.queryAgents(a.id, {})).agents.length, 25, "default page of 100");
    assert.deepEqual(
      await store.queryAgents(a.id, {}),
      { agents: await store.listAgents(a.id), total: 25 },
      "the same order as listAgents",
    );

    const active = await store.queryAgents(a.id, { activeOnly: true, limit: 1000 });
    assert.equal(active.total, 24);
    assert.ok(!active.agents.some((x) => x.id === "ag-07"), "revoked left out");
    const site = await store.queryAgents(a.id, { siteId: depot.id });
    assert.deepEqual(site.agents.map((x) => x.id), made.slice(20).map((x) => x.id));
    assert.equal(site.total, 5);

    const ids = async (search: string) =>
      (await store.queryAgents(a.id, { search })).agents.map((x) => x.id);
    assert.deepEqual(await ids("nvr-lobby"), ["ag-03"], "by host name, case-insensitive");
    assert.deepEqual(await ids("GATE camera"), ["ag-05"], "by console name");
    assert.deepEqual(await ids("rc1"), ["ag-04"], "by version");
    assert.deepEqual(await ids("ag-12"), ["ag-12"], "by id");
    assert.deepEqual(await ids("depot 100%"), made.slice(20).map((x) => x.id), "by site name");
    assert.deepEqual(await ids("_depot"), made.slice(20).map((x) => x.id), "_ and % literal");
    assert.deepEqual(await ids("x_1"), [], "_ is no wildcard (box-1 is not x_1)");
    assert.deepEqual(await ids("box%1"), [], "% is no wildcard");
    assert.deepEqual(await ids("nothing-like-this"), []);
    const searched = await store.queryAgents(a.id, { search: "box-1", limit: 3 });
    assert.equal(searched.total, 11, "box-1 and box-10..19");
    assert.equal(searched.agents.length, 3);
    assert.deepEqual(
      (await store.queryAgents(a.id, { search: "box-2", siteId: hq.id })).agents.map((x) => x.id),
      ["ag-02"],
      "search within a site",
    );

    // Another tenant's agents, sites and names are never matched.
    assert.deepEqual(await store.queryAgents(b.id, { search: "hq" }), {
      agents: [(await store.getAgent("ag-bolt"))!],
      total: 1,
    });
    assert.deepEqual(await store.queryAgents(b.id, { siteId: hq.id }), { agents: [], total: 0 });
  });

  test(
    "scanAgents: every tenant's agents not revoked, by id, a page at a time",
    async (store, clock) => {
      const a = await store.createTenant({ name: "Acme" });
      const b = await store.createTenant({ name: "Bolt" });
      const sa = await store.createSite({ tenantId: a.id, name: "HQ" });
      const sb = await store.createSite({ tenantId: b.id, name: "Depot" });
      for (const id of ["ag-c", "ag-a", "ag-e", "ag-b", "ag-d"]) {
        const where = id < "ag-c"
          ? { tenantId: a.id, siteId: sa.id }
          : { tenantId: b.id, siteId: sb.id };
        await registerAgent(store, clock, where, { id });
      }
      await store.revokeAgent(b.id, "ag-d");
      assert.deepEqual((await store.scanAgents(null, 2)).map((x) => x.id), ["ag-a", "ag-b"]);
      assert.deepEqual((await store.scanAgents("ag-b", 2)).map((x) => x.id), ["ag-c", "ag-e"]);
      assert.deepEqual(await store.scanAgents("ag-e", 2), []);
      assert.deepEqual(await store.scanAgents(null, 0), []);
      assert.deepEqual(await store.scanAgents(null, 10), [
        (await store.getAgent("ag-a"))!,
        (await store.getAgent("ag-b"))!,
        (await store.getAgent("ag-c"))!,
        (await store.getAgent("ag-e"))!,
      ]);
    },
  );

  test(
    "countAgentsBySite, getPresenceOf, getAgentCountersOf: a page's live facts in one call",
    async (store, clock) => {
      const a = await store.createTenant({ name: "Acme" });
      const b = await store.createTenant({ name: "Bolt" });
      const sa = await store.createSite({ tenantId: a.id, name: "HQ" });
      const sa2 = await store.createSite({ tenantId: a.id, name: "Annex" });
      const sb = await store.createSite({ tenantId: b.id, name: "Depot" });
      for (const id of ["ag-1", "ag-2", "ag-3", "ag-4"]) {
        await registerAgent(store, clock, {
          tenantId: a.id,
          siteId: id === "ag-4" ? sa2.id : sa.id,
        }, {
          id,
        });
      }
      await registerAgent(store, clock, { tenantId: b.id, siteId: sb.id }, { id: "ag-b" });
      const n = (agents: number, online: number, activeStreams: number) => ({
        agents,
        online,
        activeStreams,
      });
      assert.deepEqual(await store.countAgentsBySite(a.id), {
        [sa.id]: n(3, 0, 0),
        [sa2.id]: n(1, 0, 0),
      });

      await store.putPresence(up("ag-1", a.id, sa.id, 3), 30_000);
      await store.putPresence(up("ag-2", a.id, sa.id, 1), 5_000);
      await store.putPresence(up("ag-4", a.id, sa2.id, 2), 30_000);
      await store.putPresence(up("ag-b", b.id, sb.id, 7), 30_000);
      await store.putPresence(up("ag-3", a.id, sa.id, 9), 30_000);
      assert.equal(await store.revokeAgent(a.id, "ag-3"), true); // a heartbeat raced the revocation
      assert.deepEqual(await store.countAgentsBySite(a.id), {
        [sa.id]: n(2, 2, 4),
        [sa2.id]: n(1, 1, 2),
      });
      assert.deepEqual(await store.countAgentsBySite(b.id), { [sb.id]: n(1, 1, 7) });
      assert.deepEqual(
        await store.countAgentsBySite(a.id, [sa2.id, sb.id]),
        { [sa2.id]: n(1, 1, 2) },
        "only the sites asked for, of this tenant",
      );
      assert.deepEqual(await store.countAgentsBySite(a.id, [sa.id]), { [sa.id]: n(2, 2, 4) });
      assert.deepEqual(await store.countAgentsBySite(a.id, []), {});

      assert.deepEqual(
        (await store.getPresenceOf(["ag-4", "ag-1", "ag-missing", "ag-b"])).map((p) => p.agentId),
        ["ag-1", "ag-4", "ag-b"],
        "by id, sorted, unknown ids left out",
      );
      assert.deepEqual(await store.getPresenceOf(["ag-1"]), [await store.getPresence("ag-1")]);
      assert.deepEqual(await store.getPresenceOf([]), []);
      clock.advance(10_000);
      assert.deepEqual(
        (await store.getPresenceOf(["ag-1", "ag-2"])).map((p) => p.agentId),
        ["ag-1"],
        "expired presence left out",
      );
      assert.deepEqual(await store.countAgentsBySite(a.id), {
        [sa.id]: n(2, 1, 3),
        [sa2.id]: n(1, 1, 2),
      });
      assert.equal(await store.revokeAgent(a.id, "ag-4"), true);
      assert.deepEqual(
        await store.countAgentsBySite(a.id),
        { [sa.id]: n(2, 1, 3) },
        "a site left without agents is absent",
      );

      const report = (agentId: string, tenantId: string, bytesUp: number) =>
        store.recordAgentCounters({
          agentId,
          tenantId,
          day: "2026-12-03",
          bytesUp,
          bytesDown: 1,
          tunnels: 2,
        });
      await report("ag-2", a.id, 10);
      await report("ag-1", a.id, 20);
      assert.deepEqual(await store.getAgentCountersOf(["ag-2", "ag-1", "ag-4"]), [
        (await store.getAgentCounters("ag-1"))!,
        (await store.getAgentCounters("ag-2"))!,
      ]);
      assert.deepEqual(await store.getAgentCountersOf([]), []);
    },
  );

  test(
    "getAgentsById and getAllowlistVersions: many ids in one call, unscoped",
    async (store, clock) => {
      const a = await store.createTenant({ name: "Acme" });
      const b = await store.createTenant({ name: "Bolt" });
      const sa = await store.createSite({ tenantId: a.id, name: "HQ" });
      const sb = await store.createSite({ tenantId: b.id, name: "Depot" });
      await registerAgent(store, clock, { tenantId: a.id, siteId: sa.id }, { id: "ag-2" });
      await registerAgent(store, clock, { tenantId: b.id, siteId: sb.id }, { id: "ag-1" });
      await store.revokeAgent(b.id, "ag-1");
      assert.deepEqual(await store.getAgentsById(["ag-2", "ag-none", "ag-1"]), [
        (await store.getAgent("ag-1"))!,
        (await store.getAgent("ag-2"))!,
      ]);
      assert.deepEqual(await store.getAgentsById([]), []);

      await store.createDevice({ tenantId: a.id, siteId: sa.id, host: "cam", ports: [80] });
      await store.createDevice({ tenantId: a.id, siteId: sa.id, host: "nvr", ports: [554] });
      assert.deepEqual(await store.getAllowlistVersions([sa.id, sb.id, "site-none"]), {
        [sa.id]: (await store.getAllowlist(sa.id)).version,
        [sb.id]: (await store.getAllowlist(sb.id)).version,
      });
      assert.ok((await store.getAllowlistVersions([sa.id]))[sa.id] >= 2, "bumped per device");
      assert.deepEqual(await store.getAllowlistVersions([]), {});
    },
  );

  test("querySites and getSitesById: pages, name search, tenant scope", async (store, clock) => {
    const a = await store.createTenant({ name: "Acme" });
    const b = await store.createTenant({ name: "Bolt" });
    const made = [];
    for (let i = 0; i < 23; i++) {
      made.push(
        await store.createSite({
          tenantId: a.id,
          name: i === 5 ? "North_Depot 100%" : `Store ${i}`,
        }),
      );
      clock.advance(i % 2);
    }
    const other = await store.createSite({ tenantId: b.id, name: "Store 1" });
    assert.deepEqual(await store.querySites(a.id, { limit: 10 }), {
      sites: made.slice(0, 10),
      total: 23,
    });
    assert.deepEqual(
      (await store.querySites(a.id, { offset: 20 })).sites.map((x) => x.id),
      made.slice(20).map((x) => x.id),
    );
    assert.deepEqual(await store.querySites(a.id, {}), {
      sites: await store.listSites(a.id),
      total: 23,
    });
    const names = async (search: string) =>
      (await store.querySites(a.id, { search })).sites.map((x) => x.name);
    assert.deepEqual(await names("STORE 1"), [
      "Store 1",
      "Store 10",
      "Store 11",
      "Store 12",
      "Store 13",
      "Store 14",
      "Store 15",
      "Store 16",
      "Store 17",
      "Store 18",
      "Store 19",
    ]);
    assert.deepEqual(await names("_depot 100%"), ["North_Depot 100%"], "% and _ literal");
    assert.deepEqual(await names("e_1"), [], "_ is no wildcard");
    assert.equal((await store.querySites(a.id, { search: "store", limit: 2 })).total, 22);
    assert.deepEqual(await store.querySites(b.id, { search: "depot" }), { sites: [], total: 0 });

    assert.deepEqual(
      await store.getSitesById(a.id, [made[7].id, other.id, "site-none", made[2].id]),
      [made[2], made[7]],
      "oldest first; another tenant's site left out",
    );
    assert.deepEqual(await store.getSitesById(a.id, []), []);
  });

  test(
    "listHourlyStatsOf: a page of agents' hours in one call, tenant-scoped",
    async (store, clock) => {
      const a = await store.createTenant({ name: "Acme" });
      const b = await store.createTenant({ name: "Bolt" });
      const report = (agentId: string, tenantId: string, bytesUp: number) =>
        store.recordAgentCounters({
          agentId,
          tenantId,
          day: new Date(clock.now()).toISOString().slice(0, 10),
          bytesUp,
          bytesDown: 0,
          tunnels: 0,
        });
      clock.set(Date.UTC(2026, 5, 1, 10, 30));
      const since = Date.UTC(2026, 5, 1, 10);
      await report("ag-2", a.id, 5);
      await report("ag-1", a.id, 7);
      await report("ag-b", b.id, 9);
      clock.set(Date.UTC(2026, 5, 1, 11, 5));
      await report("ag-1", a.id, 10);
      const rows = await store.listHourlyStatsOf(a.id, ["ag-2", "ag-1", "ag-b", "ag-none"], since);
      assert.deepEqual(rows, [
        ...await store.listAgentHourlyStats(a.id, "ag-1", since),
        ...await store.listAgentHourlyStats(a.id, "ag-2", since),
      ]);
      assert.deepEqual(rows.map((r) => [r.agentId, r.hour - since, r.bytesUp]), [
        ["ag-1", 0, 7],
        ["ag-1", 3_600_000, 3],
        ["ag-2", 0, 5],
      ]);
      assert.deepEqual(
        (await store.listHourlyStatsOf(a.id, ["ag-1"], since + 3_600_000)).map((r) => r.bytesUp),
        [3],
      );
      assert.deepEqual(await store.listHourlyStatsOf(a.id, [], since), []);
    },
  );
}
