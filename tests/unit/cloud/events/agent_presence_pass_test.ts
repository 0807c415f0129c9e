// One pass of the agent presence job over a real (SQLite) store with agents in several tenants
// and sites: online agents are recorded without an event, one that vanished turns offline once
// the grace is over (one event, for it alone), a revoked agent is left out, and a pass walks the
// agents a page at a time with event-loop turns between pages (at 10 000 agents one pass held the
// loop about 100 ms every 5 s when it read everything at once).
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { registerAgent } from "../../../_fixtures/store_agents.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import type { NewTenantEvent, Store } from "../../../../src/cloud/store/store.ts";
import {
  checkAgentPresence,
  type PresenceJobDeps,
} from "../../../../src/cloud/events/agent_availability.ts";
import type { EventProducer } from "../../../../src/cloud/events/producer.ts";

const GRACE = 30_000;
const TTL = 3_600_000;

async function online(store: Store, a: { id: string; tenantId: string; siteId: string }) {
  await store.putPresence({
    agentId: a.id,
    tenantId: a.tenantId,
    siteId: a.siteId,
    node: "node-1",
    endpoint: "",
    activeStreams: 0,
    bytesUp: 0,
    bytesDown: 0,
  }, TTL);
}

Deno.test("presence pass: real store, tenants and sites; one offline event; the loop turns", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const agents: { id: string; tenantId: string; siteId: string }[] = [];
      for (let t = 0; t < 3; t++) {
        const tenant = await store.createTenant({ name: `T${t}` });
        for (let s = 0; s < 20; s++) {
          const site = await store.createSite({ tenantId: tenant.id, name: `S${s}` });
          for (let a = 0; a < 2; a++) {
            const id = `ag-${t}-${s}-${a}`;
            await registerAgent(store, clock, { tenantId: tenant.id, siteId: site.id }, { id });
            agents.push({ id, tenantId: tenant.id, siteId: site.id });
          }
        }
      }
      for (const a of agents) await online(store, a);
      const revoked = agents[5];
      assert(await store.revokeAgent(revoked.tenantId, revoked.id));

      const raised: NewTenantEvent[] = [];
      const events = {
        emit: (e: NewTenantEvent) => {
          raised.push(e);
          return Promise.resolve({ ...e, seq: raised.length, at: clock.now(), readAt: null });
        },
      } as unknown as EventProducer;
      const deps: PresenceJobDeps = { store, events, clock, owner: "n", graceMs: GRACE };

      // Pages of 7 agents: pages that end inside a site and a tenant, and a turn between them.
      const first = await countLoopTurns(() =>
        checkAgentPresence({ ...deps, sliceMs: 0, pageSize: 7 })
      );
      assertEquals(first.result, 0, "first sight raises nothing");
      assert(first.turns > 0, "the pass gave the event loop turns");
      const recorded = await store.listAgentAvailability();
      assertEquals(recorded.length, agents.length - 1, "every agent but the revoked one");
      assert(recorded.every((r) => r.online));

      // One agent vanishes: its presence lease ends.
      const gone = agents[42];
      await store.deletePresence(gone.id, "node-1");
      clock.advance(1_000);
      assertEquals(await checkAgentPresence(deps), 0, "inside the grace");
      clock.advance(GRACE);
      assertEquals(await checkAgentPresence(deps), 1);
      assertEquals(await checkAgentPresence(deps), 0, "once");
      assertEquals(raised.map((e) => [e.type, e.subject.agentId]), [["agent.offline", gone.id]]);
      assertEquals(raised[0].tenantId, gone.tenantId);
    } finally {
      await store.close();
    }
  }));
