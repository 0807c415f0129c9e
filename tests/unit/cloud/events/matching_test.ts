// A filter's events walked a page at a time on a real SQLite store (what an export holds and
// what "Mark these read" marks): the bound holds across pages, marking reads only the filter's
// unread events of that reader, and a bounded mark says there is more, then finishes.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import {
  EVENT_PAGE_MAX,
  eventsMatching,
  markMatchingRead,
} from "../../../../src/cloud/events/matching.ts";

Deno.test("events matching a filter: pages up to the bound; marking a filter's unread events leaves the rest and other readers' alone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nc-matching-" });
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  try {
    const t = await store.createTenant({ name: "Acme" });
    const other = await store.createTenant({ name: "Other" });
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
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
