// agent.data_blocked on a real embedded store: one event per spell of failed data dials, a spell
// ended by a data connection that comes up or by a new control stream; named by the agent's
// host name when the store has no label for it.
import assert from "node:assert/strict";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import { DataChannelWatch } from "../../../../src/cloud/events/data_channel.ts";
import { createLogger } from "../../../../src/shared/log.ts";

Deno.test("agent.data_blocked: once per spell; a bound connection or a new control stream ends it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-datachan-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  try {
    const tenant = await store.createTenant({ name: "Acme" });
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    let now = 1_000;
    const watch = new DataChannelWatch({ store, events, clock: { now: () => now } });
    // The agent's session on the node (one per control stream).
    const agent: {
      agentId: string;
      tenantId: string;
      siteId: string;
      hostname: string;
      dataBlocked?: string;
    } = { agentId: "ag-1", tenantId: tenant.id, siteId: "site-1", hostname: "nvr-pc" };
    const types = async () =>
      (await store.listEvents(tenant.id)).map((e) => `${e.type}:${e.detail.error}`);

    await watch.failed(agent, "cloud:8444: Connection refused");
    now += 1_000;
    await watch.failed(agent, "cloud:8444: Connection refused");
    assert.deepEqual(await types(), ["agent.data_blocked:cloud:8444: Connection refused"]);
    assert.equal(agent.dataBlocked, "cloud:8444: Connection refused");
    const [first] = await store.listEvents(tenant.id);
    assert.equal(first.subject.name, "nvr-pc");
    assert.equal(first.subject.agentId, "ag-1");
    assert.equal(first.actor, "agent:ag-1");

    // A data connection came up: the next failure starts a new spell.
    watch.opened(agent);
    assert.equal(agent.dataBlocked, "");
    now += 1_000;
    await watch.failed(agent, "cloud:8444: timed out");
    assert.equal((await types()).length, 2);

    // A new control stream of the agent is a new spell too.
    now += 1_000;
    await watch.failed({ ...agent, dataBlocked: undefined }, "cloud:8444: timed out");
    assert.deepEqual(await types(), [
      "agent.data_blocked:cloud:8444: timed out",
      "agent.data_blocked:cloud:8444: timed out",
      "agent.data_blocked:cloud:8444: Connection refused",
    ]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
