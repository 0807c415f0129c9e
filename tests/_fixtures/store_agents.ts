/**
 * Agents in a real store for unit tests, made the way the product makes them: an enrollment
 * token is created and consumed (there is no other way to register an agent).
 * @module
 */
import type { Agent, NewAgent, Store } from "../../src/cloud/store/store.ts";
import type { Clock } from "../../src/shared/clock.ts";

/** Registers agent `agent.id` in a tenant's site through a consumed enrollment token. */
export async function registerAgent(
  store: Store,
  clock: Clock,
  where: { tenantId: string; siteId: string },
  agent: Partial<NewAgent> & { id: string },
): Promise<Agent> {
  const hash = crypto.randomUUID().replaceAll("-", "").padEnd(64, "0");
  await store.createEnrollmentToken({
    hash,
    ...where,
    createdAt: clock.now(),
    expiresAt: clock.now() + 60_000,
  });
  const r = await store.consumeEnrollmentToken(hash, {
    hostname: "h",
    version: "1",
    os: "linux",
    certSerial: "00",
    ...agent,
  });
  if (!r.ok) throw new Error(`cannot register ${agent.id}: ${r.reason}`);
  return r.agent;
}
