// The change watcher's safety net: a revocation written without its change signal (the writer
// crashed between the two writes, or its node died) still cuts the agent off on this node at the
// next full reconcile, one minute later by the injected clock. Real in-process cloud, real agent.
import { assertEquals } from "../_fixtures/assert.ts";
import { enrollAgent, startTestCloud } from "../_fixtures/cloud.ts";
import { createLogger } from "../../src/shared/log.ts";
import { supervise } from "../../src/agent/supervisor.ts";
import { until } from "../_fixtures/until.ts";

Deno.test("watcher: a revocation that lost its change signal still cuts the agent off within a minute", async () => {
  const tc = await startTestCloud();
  const dir = await Deno.makeTempDir();
  const s = tc.cloud.store;
  let sup: ReturnType<typeof supervise> | undefined;
  try {
    const state = await enrollAgent(tc, dir);
    sup = supervise({ state, stateDir: dir, log: createLogger({ role: "test", level: "silent" }) });
    await until(
      "agent connected",
      () => tc.cloud.registry.get(state.agentId) !== undefined,
      20_000,
      25,
    );

    // Let the watcher's first tick (which always reconciles) pass, so only the periodic one can
    // see what follows.
    await new Promise((r) => setTimeout(r, 3_000));
    assertEquals(tc.cloud.registry.get(state.agentId) !== undefined, true);
    // Revoked in the store only: no kick, no change counter bump.
    const { tenantId } = (await s.getAgent(state.agentId))!;
    assertEquals(await s.revokeAgent(tenantId, state.agentId), true);
    tc.clock.advance(61_000);
    await until(
      "agent cut off",
      () => tc.cloud.registry.get(state.agentId) === undefined,
      10_000,
      25,
    );
  } finally {
    await sup?.stop();
    await tc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
