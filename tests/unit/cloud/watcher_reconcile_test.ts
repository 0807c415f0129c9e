// The change watcher's reconciliation over a real (SQLite) store and a real registry of 1 200
// sessions on 600 sites: it pushes exactly the sites whose allowlist version moved past what one
// of their agents has, cuts off exactly the revoked and the deleted agents, and reads the store a
// page at a time — a handful of queries, never a whole allowlist per site nor a read per agent on
// a tick where nothing changed for them (it runs on every change anywhere and every minute).
import { assertEquals } from "../../_fixtures/assert.ts";
import { inTempDir } from "../../_fixtures/temp_dir.ts";
import { registerAgent } from "../../_fixtures/store_agents.ts";
import { ManualClock } from "../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../src/cloud/store/sqlite.ts";
import { type AgentSession, Registry } from "../../../src/cloud/control/registry.ts";
import type { ControlServer } from "../../../src/cloud/control/server.ts";
import { reconcile, RECONCILE_PAGE } from "../../../src/cloud/watcher.ts";
import { counted } from "../../_fixtures/counted_store.ts";

Deno.test("reconcile: pushes only moved allowlists, cuts off revoked agents, reads in pages", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock();
    const real = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const tenant = await real.createTenant({ name: "T" });
      const registry = new Registry();
      const sites: string[] = [];
      for (let i = 0; i < 600; i++) {
        const site = await real.createSite({ tenantId: tenant.id, name: `S${i}` });
        sites.push(site.id);
        for (let j = 0; j < 2; j++) {
          const agent = await registerAgent(real, clock, { tenantId: tenant.id, siteId: site.id }, {
            id: `ag-${i}-${j}`,
          });
          registry.add({
            agentId: agent.id,
            tenantId: tenant.id,
            siteId: site.id,
            allowlistVersion: (await real.getAllowlist(site.id)).version,
          } as AgentSession);
        }
      }
      // Three sites change; on one of them one agent already has the new version.
      for (const i of [7, 300, 599]) {
        await real.createDevice({
          tenantId: tenant.id,
          siteId: sites[i],
          host: "cam",
          ports: [80],
        });
      }
      registry.get("ag-300-1")!.allowlistVersion = (await real.getAllowlist(sites[300])).version;
      // Two agents revoked; one session of an agent the store does not know.
      await real.revokeAgent(tenant.id, "ag-12-0");
      await real.revokeAgent(tenant.id, "ag-598-1");
      registry.add({
        agentId: "ag-unknown",
        tenantId: tenant.id,
        siteId: sites[0],
        allowlistVersion: 99,
      } as AgentSession);

      const pushed: string[] = [];
      const kicked: string[] = [];
      const control = {
        pushAllowlist: (siteId: string) => {
          pushed.push(siteId);
          return Promise.resolve();
        },
        kick: (agentId: string) => kicked.push(agentId),
      } as unknown as ControlServer;
      const { store, calls } = counted(real);
      await reconcile(store, registry, control);

      assertEquals(pushed.sort(), [sites[7], sites[300], sites[599]].sort());
      assertEquals(kicked.sort(), ["ag-12-0", "ag-598-1", "ag-unknown"]);
      const pages = (n: number) => Math.ceil(n / RECONCILE_PAGE);
      assertEquals(Object.fromEntries(calls), {
        getAllowlistVersions: pages(600),
        getAgentsById: pages(1_201),
      });

      // Nothing moved since: nothing pushed, the same two kinds of reads only.
      for (const i of [7, 300, 599]) {
        for (const s of registry.bySite(sites[i])) {
          s.allowlistVersion = (await real.getAllowlist(sites[i])).version;
        }
      }
      pushed.length = 0;
      calls.clear();
      await reconcile(store, registry, control);
      assertEquals(pushed, []);
      assertEquals([...calls.keys()].sort(), ["getAgentsById", "getAllowlistVersions"]);
    } finally {
      await real.close();
    }
  }));
