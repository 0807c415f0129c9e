/**
 * Fast bulk seeding of a running stack's store (for the 10,000-device list test and the bench):
 * devices are created through the {@linkcode Store} interface, on a second connection to the
 * cloud's own store (SQLite in WAL mode, or the same MongoDB), so they are real records with
 * loopback addresses and allowlist bumps, without 10,000 HTTP round trips.
 * @module
 */
import { openStore } from "../../src/cloud/store/open.ts";
import type { Stack } from "./stack.ts";

/**
 * Adds `n` devices (10.x.y.z, ports 80 and 554, every 10th named "Gate N") to a site of the
 * stack's cloud, `parallel` creations at a time; returns how long it took (ms).
 */
export async function seedDevices(
  stack: Stack,
  tenantId: string,
  siteId: string,
  n: number,
  parallel = 8,
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
          host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          ports: [80, 554],
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
