// A filter's events walked a page at a time on a real SQLite store (what an export holds and
// what "Mark these read" marks): the bound holds across pages, marking reads only the filter's
// unread events of that reader, and a bounded mark says there is more, then finishes.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import type { Store, Tenant } from "../../../../src/cloud/store/store.ts";
import {
  EVENT_PAGE_MAX,
  eventsMatching,
  markMatchingRead,
  seqBefore,
} from "../../../../src/cloud/events/matching.ts";

/** A real SQLite store in a temp dir on a manual clock, with two tenants; removed after `f`. */
async function withTenants(
  f: (w: { store: Store; clock: ManualClock; t: Tenant; other: Tenant }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nc-matching-" });
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  try {
    const t = await store.createTenant({ name: "Acme" });
    const other = await store.createTenant({ name: "Other" });
    await f({ store, clock, t, other });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("events matching a filter: pages up to the bound; marking a filter's unread events leaves the rest and other readers' alone", async () => {
  await withTenants(async ({ store, t, other }) => {
    // 1 200 events about site A and 300 about site B, interleaved; 10 of site A in another tenant.
    for (let i = 0; i < 1_500; i++) {
      const site = i % 5 === 4 ? "site_b" : "site_a";
      await store.appendEvent({
        key: `e-${i}`,
        tenantId: t.id,
        type: i % 2 ? "agent.offline" : "agent.online",
        subject: { name: `agent ${i}`, siteId: site },
        actor: "system",
        detail: {},
      });
    }
    for (let i = 0; i < 10; i++) {
      await store.appendEvent({
        key: `o-${i}`,
        tenantId: other.id,
        type: "agent.offline",
        subject: { name: `agent ${i}`, siteId: "site_a" },
        actor: "system",
        detail: {},
      });
    }
    const alice = { id: "user:alice", since: 0 };
    const bob = { id: "user:bob", since: 0 };

    // The walk: newest first, pages of at most EVENT_PAGE_MAX, stopping at the bound.
    const sizes: number[] = [];
    const seqs: number[] = [];
    for await (const page of eventsMatching(store, t.id, { siteId: "site_a" }, 1_100)) {
      sizes.push(page.length);
      seqs.push(...page.map((e) => e.seq));
    }
    assertEquals(sizes, [EVENT_PAGE_MAX, EVENT_PAGE_MAX, 100]);
    assertEquals(seqs, [...seqs].sort((a, b) => b - a));
    assertEquals(new Set(seqs).size, 1_100);
    let all = 0;
    for await (const page of eventsMatching(store, t.id, {}, 10_000)) all += page.length;
    assertEquals(all, 1_500);

    // Marking site A's for Alice, at most 1 000 at a time: 1 000 and more, then the other 200.
    assertEquals(
      await markMatchingRead(store, t.id, { reader: alice, siteId: "site_a" }, 1_000),
      { marked: 1_000, more: true },
    );
    assertEquals(await store.countUnreadEvents(t.id, alice), 500);
    assertEquals(
      await markMatchingRead(store, t.id, { reader: alice, siteId: "site_a" }, 1_000),
      { marked: 200, more: false },
    );
    assertEquals(
      await markMatchingRead(store, t.id, { reader: alice, siteId: "site_a" }, 1_000),
      { marked: 0, more: false },
    );
    // Site B's are still unread for her; Bob's and the other tenant's are untouched.
    assertEquals(await store.countUnreadEvents(t.id, alice), 300);
    const unreadB = await store.listEvents(t.id, { reader: alice, unread: true, limit: 500 });
    assertEquals(unreadB.every((e) => e.subject.siteId === "site_b"), true);
    assertEquals(await store.countUnreadEvents(t.id, bob), 1_500);
    assertEquals(await store.countUnreadEvents(other.id, alice), 10);

    // A type filter with the site: only those.
    assertEquals(
      await markMatchingRead(
        store,
        t.id,
        { reader: bob, siteId: "site_b", types: ["agent.offline"] },
        1_000,
      ),
      { marked: 150, more: false },
    );
    assertEquals(await store.countUnreadEvents(t.id, bob), 1_350);
  });
});

Deno.test("events of a time range: found by a binary search over seqs, exact at both ends, with the filter and the bound; seqBefore of any time", async () => {
  await withTenants(async ({ store, clock, t, other }) => {
    const start = clock.now();
    // One event a minute for 1 000 minutes, every tenth about site B; another tenant's between.
    for (let i = 0; i < 1_000; i++) {
      clock.set(start + i * 60_000);
      await store.appendEvent({
        key: `e-${i}`,
        tenantId: t.id,
        type: "agent.offline",
        subject: { name: `agent ${i}`, siteId: i % 10 === 0 ? "site_b" : "site_a" },
        actor: "system",
        detail: { i },
      });
      await store.appendEvent({
        key: `o-${i}`,
        tenantId: other.id,
        type: "agent.offline",
        subject: { name: `other ${i}` },
        actor: "system",
        detail: {},
      });
    }
    const minute = (i: number) => start + i * 60_000;
    const walk = async (f: Parameters<typeof eventsMatching>[2], max = 10_000) => {
      const out: number[] = [];
      for await (const page of eventsMatching(store, t.id, f, max)) {
        out.push(...page.map((e) => (e.detail as { i: number }).i));
      }
      return out;
    };
    const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, k) => b - k); // newest first

    // Both ends inclusive, to the millisecond; from alone, to alone.
    assertEquals(await walk({ from: minute(100), to: minute(700) }), range(100, 700));
    assertEquals(await walk({ from: minute(100) + 1, to: minute(700) - 1 }), range(101, 699));
    assertEquals(await walk({ from: minute(990) }), range(990, 999));
    assertEquals(await walk({ to: minute(9) }), range(0, 9));
    // Outside every event, and a range backwards: nothing.
    assertEquals(await walk({ from: minute(1_000) }), []);
    assertEquals(await walk({ to: start - 1 }), []);
    assertEquals(await walk({ from: minute(500), to: minute(400) }), []);
    // With a site and the bound: site B's newest 5 of minutes 0..500.
    assertEquals(
      await walk({ siteId: "site_b", from: minute(0), to: minute(500) }, 5),
      [500, 490, 480, 470, 460],
    );

    // seqBefore: a seq that splits this tenant's events at a time (seqs are the store's, shared
    // by tenants: any seq from the last one before the time to just under the next one does).
    const seqs = new Map<number, number>();
    for await (const page of eventsMatching(store, t.id, {}, 10_000)) {
      for (const e of page) seqs.set((e.detail as { i: number }).i, e.seq);
    }
    const splits = async (at: number, last: number) => {
      const s = await seqBefore(store, t.id, at);
      const lo = last < 0 ? 0 : seqs.get(last)!;
      const hi = seqs.get(last + 1) ?? Infinity;
      assert(s >= lo && s < hi, `seqBefore(${at}) = ${s}, not in [${lo}, ${hi})`);
    };
    await splits(start, -1);
    await splits(minute(1), 0);
    await splits(minute(500) + 1, 500);
    await splits(minute(777), 776);
    await splits(minute(5_000), 999);
    assertEquals(await seqBefore(store, (await store.createTenant({ name: "Empty" })).id, 0), 0);
  });
});
