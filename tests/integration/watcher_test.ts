// The change watcher's safety net: a revocation written without its change signal (the writer
// crashed between the two writes, or its node died) still cuts the agent off on this node at the
// next full reconcile, one minute later by the injected clock. Real in-process cloud, real agent.
import { assertEquals } from "../_fixtures/assert.ts";
import { startTestCloud } from "../_fixtures/cloud.ts";
import { formatJoinToken, hashToken, mintToken } from "../../src/shared/crypto/token.ts";
import { createLogger } from "../../src/shared/log.ts";
import { enroll } from "../../src/agent/enroll.ts";
import { supervise } from "../../src/agent/supervisor.ts";

async function until(cond: () => boolean, what: string, ms = 20_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test("watcher: a revocation that lost its change signal still cuts the agent off within a minute", async () => {
  const tc = await startTestCloud();
  const dir = await Deno.makeTempDir();
  const s = tc.cloud.store;
  let sup: ReturnType<typeof supervise> | undefined;
  try {
    const t = await s.createTenant({ name: "W" });
    const site = await s.createSite({ tenantId: t.id, name: "HQ" });
    const secret = mintToken("enr");
    await s.createEnrollmentToken({
      hash: await hashToken(secret),
      tenantId: t.id,
      siteId: site.id,
      createdAt: tc.clock.now(),
      expiresAt: tc.clock.now() + 3600_000,
    });
    const state = await enroll({
      cloud: tc.base,
      token: formatJoinToken(secret, tc.cloud.pki.agentCaPin),
      stateDir: dir,
    });
    sup = supervise({ state, stateDir: dir, log: createLogger({ role: "test", level: "silent" }) });
    await until(() => tc.cloud.registry.get(state.agentId) !== undefined, "agent connected");

    // Let the watcher's first tick (which always reconciles) pass, so only the periodic one can
    // see what follows.
    await new Promise((r) => setTimeout(r, 3_000));
    assertEquals(tc.cloud.registry.get(state.agentId) !== undefined, true);
    // Revoked in the store only: no kick, no change counter bump.
    assertEquals(await s.revokeAgent(t.id, state.agentId), true);
    tc.clock.advance(61_000);
    await until(() => tc.cloud.registry.get(state.agentId) === undefined, "agent cut off", 10_000);
  } finally {
    await sup?.stop();
    await tc.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
