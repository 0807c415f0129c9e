// Which node watches which cameras' motion alerts, over a real (SQLite) store and an injected
// clock: the shards split among the running nodes in name order; a node joining takes its part
// only once the old holder lets go (never two holders); a node gone stale leaves its part to the
// others once its locks expire.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import {
  MOTION_SHARDS,
  ShardClaim,
  shardOf,
  shardsOf,
} from "../../../../src/cloud/events/motion_shards.ts";
import { JOB_LOCK_TTL_MS } from "../../../../src/cloud/jobs/leader.ts";
import { NODE_STALE_MS } from "../../../../src/cloud/nodes.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";

Deno.test("motion shards: a device's shard is fixed; the shards split among nodes, each once", () => {
  assertEquals(shardOf("dev-abc"), shardOf("dev-abc"));
  const counts = new Array(MOTION_SHARDS).fill(0);
  for (let i = 0; i < 8_000; i++) counts[shardOf(`dev-${crypto.randomUUID()}`)]++;
  assert(counts.every((n) => n > 800 && n < 1_200), `an even spread: ${counts}`);
  assertEquals(shardsOf("node-1", []), [0, 1, 2, 3, 4, 5, 6, 7]);
  assertEquals(shardsOf("node-1", ["node-2", "node-1"]), [0, 2, 4, 6]);
  assertEquals(shardsOf("node-2", ["node-1"]), [1, 3, 5, 7]);
  const three = ["b", "a", "c"];
  const all = three.flatMap((n) => shardsOf(n, three)).sort();
  assertEquals(all, [0, 1, 2, 3, 4, 5, 6, 7]);
});

const announce = (store: Store, name: string) =>
  store.putNode({ name, version: "0.1.0", startedAt: 0, internal: "", settings: {} });

Deno.test("motion shards: a joining node takes its part once the other lets go; a dead one's part moves when its locks expire", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 11, 5, 12));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const claim = (node: string) =>
        new ShardClaim({ store, node, owner: `${node}/1/x`, now: () => clock.now() });
      const one = claim("node-1");
      const two = claim("node-2");
      await announce(store, "node-1");
      assertEquals([...await one.claim()].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);

      // node-2 starts: it is not given what node-1 still holds.
      await announce(store, "node-2");
      assertEquals([...await two.claim()], []);
      // node-1's next tick lets go of node-2's part; node-2's next tick takes it.
      assertEquals([...await one.claim()].sort(), [0, 2, 4, 6]);
      assertEquals([...await two.claim()].sort(), [1, 3, 5, 7]);
      assertEquals([...await one.claim()].sort(), [0, 2, 4, 6], "renewed, unchanged");

      // node-2 dies: stale in the registry, its locks live on until they expire.
      clock.advance(NODE_STALE_MS + 1);
      await announce(store, "node-1");
      assertEquals([...await one.claim()].sort(), [0, 2, 4, 6]);
      clock.advance(JOB_LOCK_TTL_MS);
      await announce(store, "node-1");
      assertEquals([...await one.claim()].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      await store.close();
    }
  }));

Deno.test("motion shards: while a node of the version before holds its one lock, none is claimed", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 11, 5, 12));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const claim = new ShardClaim({
        store,
        node: "node-2",
        owner: "node-2/1/x",
        now: () => clock.now(),
      });
      await announce(store, "node-2");
      assert(await store.acquireLock("lock:motion-watch", "node-1/9/old", JOB_LOCK_TTL_MS));
      assertEquals([...await claim.claim()], []);
      // It stopped (its lock expired, or it resigned): this node takes its shards.
      clock.advance(JOB_LOCK_TTL_MS);
      await announce(store, "node-2");
      assertEquals([...await claim.claim()].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
      // An old node back: this node lets go of every shard.
      assert(await store.acquireLock("lock:motion-watch", "node-1/9/old", JOB_LOCK_TTL_MS));
      assertEquals([...await claim.claim()], []);
      assert(
        await store.acquireLock("lock:motion-watch/3", "node-1/9/old", JOB_LOCK_TTL_MS),
        "its shards' locks are free",
      );
    } finally {
      await store.close();
    }
  }));
