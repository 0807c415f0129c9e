/**
 * Fast bulk seeding of a running stack's store (for the long-list tests and the bench): devices
 * and agents are created through the {@linkcode Store} interface, on a second connection to the
 * cloud's own store (SQLite in WAL mode, or the same MongoDB), so they are real records with
 * loopback addresses and allowlist bumps, without 10,000 HTTP round trips.
 * @module
 */
import { openStore } from "../../src/cloud/store/open.ts";
import { systemClock } from "../../src/shared/clock.ts";
import { registerAgent } from "./store_agents.ts";
import type { Stack } from "./stack.ts";

/**
 * Adds `n` devices (by default 10.x.y.z — never dialled: keep them off a site with a running
 * agent — ports 80 and 554, every 10th named "Gate N") to a site of the stack's cloud, `parallel`
 * creations at a time; returns how long it took (ms). `shape` gives other hosts and ports.
 */
export async function seedDevices(
  stack: Stack,
  tenantId: string,
  siteId: string,
  n: number,
  parallel = 8,
  shape: { host: (i: number) => string; ports: number[] } = {
    host: (i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    ports: [80, 554],
  },
): Promise<number> {
  const store = await openStore(stack.store ?? "sqlite:", stack.dataDir);
  const started = performance.now();
  try {
    let next = 0;
    await Promise.all(Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        await store.createDevice({
          tenantId,
          siteId,
          host: shape.host(i),
          ports: shape.ports,
          label: i % 10 === 0 ? `Gate ${i}` : "",
          model: "Seeded",
        });
      }
    }));
  } finally {
    await store.close();
  }
  return performance.now() - started;
}

/**
 * Records a reachability state for every (host, port) of the first `n` devices `seedDevices`
 * made with its default shape (hosts 10.x.y.z, ports 80 and 554), as an agent's reports would,
 * in steps of 500 pairs: every `downEvery`-th device's pairs down, the others up. Returns how
 * long it took (ms).
 */
export async function seedPortStates(
  stack: Stack,
  tenantId: string,
  siteId: string,
  n: number,
  downEvery = 10,
): Promise<number> {
  const store = await openStore(stack.store ?? "sqlite:", stack.dataDir);
  const started = performance.now();
  try {
    const now = systemClock.now();
    let batch: Parameters<typeof store.recordPortStates>[0] = [];
    for (let i = 0; i < n; i++) {
      const host = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const up = i % downEvery !== 0;
      for (const port of [80, 554]) {
        batch.push({
          tenantId,
          siteId,
          host,
          port,
          up,
          since: now,
          error: up ? "" : "connection refused",
          agentId: "ag-seed-reporter",
        });
      }
      if (batch.length >= 500 || i === n - 1) {
        await store.recordPortStates(batch);
        batch = [];
      }
    }
  } finally {
    await store.close();
  }
  return performance.now() - started;
}

/**
 * Adds `n` agents to a tenant through the store, the way enrollment makes them (ids `ag-seed-N`,
 * host names `seed-N`, every 10th `gate-N`), round-robin over `siteIds`. The first `online` get
 * an hour's presence lease on `node` with 2 active streams each, and `bytesUp` sent today (this
 * hour) when given; the last `revoked` are revoked.
 * Returns how long it took (ms).
 */
export async function seedAgents(
  stack: Stack,
  tenantId: string,
  siteIds: string[],
  n: number,
  o: { online?: number; revoked?: number; node?: string; bytesUp?: number } = {},
): Promise<number> {
  const store = await openStore(stack.store ?? "sqlite:", stack.dataDir);
  const started = performance.now();
  try {
    for (let i = 0; i < n; i++) {
      const siteId = siteIds[i % siteIds.length];
      const id = `ag-seed-${String(i).padStart(5, "0")}`;
      await registerAgent(store, systemClock, { tenantId, siteId }, {
        id,
        hostname: i % 10 === 0 ? `gate-${i}` : `seed-${i}`,
      });
      if (i < (o.online ?? 0)) {
        await store.putPresence({
          agentId: id,
          tenantId,
          siteId,
          node: o.node ?? "node-1",
          endpoint: "",
          activeStreams: 2,
          bytesUp: 0,
          bytesDown: 0,
        }, 3_600_000);
        if (o.bytesUp) {
          await store.recordAgentCounters({
            agentId: id,
            tenantId,
            day: new Date().toISOString().slice(0, 10),
            bytesUp: o.bytesUp,
            bytesDown: 0,
            tunnels: 1,
          });
        }
      }
      if (i >= n - (o.revoked ?? 0)) await store.revokeAgent(tenantId, id);
    }
  } finally {
    await store.close();
  }
  return performance.now() - started;
}
