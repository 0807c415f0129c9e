// Unread events per reader in the SQLite store, on a real file with more of them than several
// pages. The console's badge counts them every second per open tab: the count and the unread list
// read the partial index events_unread from the reader's watermark up, and the reader's own marks
// by their key. "Mark all read" is one step however many there are (it moves the watermark),
// marks what was there when it was asked (an event arriving after stays unread), and only the
// reader's. Events read before read state was per reader (their read_at) count as read for all.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import {
  eventsQuery,
  PURGE_PAGE,
  UNREAD_COUNT_SQL,
} from "../../../../src/cloud/store/sqlite_alerts.ts";

Deno.test("sqlite unread events per reader: counted and listed on their index; the tenant's old read state kept; mark all in one step, for the reader only", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    await (await openSqliteStore({ path })).close();
    const total = 3 * PURGE_PAGE + 41;
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const ins = db.prepare(
      `INSERT INTO events (key, tenant_id, type, at, subject, actor, detail, read_at)
       VALUES (?, ?, 'device.down', ?, '{}', 'system', '{}', ?)`,
    );
    // Every fourth event of t-1 was read (tenant-wide, before read state was per reader); every
    // event of t-2 is unread.
    for (let i = 0; i < total; i++) ins.run(`k${i}`, "t-1", i, i % 4 === 0 ? i : null);
    for (let i = 0; i < 100; i++) ins.run(`o${i}`, "t-2", i, null);
    db.exec("COMMIT");
    const plan = (sql: string, params: (string | number)[]) =>
      db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((r) => String(r.detail))
        .join("; ");
    const countPlan = plan(UNREAD_COUNT_SQL, ["t-1", 0, "t-1", "user:a"]);
    const list = eventsQuery("t-1", { unread: true, reader: { id: "user:a", since: 0 } }, 0)!;
    const listPlan = plan(list.sql, list.params as (string | number)[]);
    db.close();
    assert(/SEARCH events USING INDEX events_unread/.test(countPlan), `count: ${countPlan}`);
    assert(/PRIMARY KEY|event_reads/.test(countPlan), `count's marks: ${countPlan}`);
    assert(/SEARCH events USING INDEX events_unread/.test(listPlan), `list: ${listPlan}`);
    assert(!/SCAN events/.test(countPlan + listPlan), `${countPlan} | ${listPlan}`);

    const unread = total - Math.ceil(total / 4);
    const alice = { id: "user:alice", since: 0 };
    const bob = { id: "user:bob", since: 0 };
    const store = await openSqliteStore({ path });
    try {
      assertEquals(await store.countUnreadEvents("t-1", alice), unread);
      const listed = await store.listEvents("t-1", { reader: alice, unread: true, limit: 500 });
      assertEquals(listed.length, 500);
      assert(listed.every((e) => e.readAt === null && e.tenantId === "t-1"));
      assertEquals(listed[0].seq > listed[1].seq, true, "newest first");

      const marked = await store.markEventsRead("t-1", alice, "all");
      await store.appendEvent({
        key: "late",
        tenantId: "t-1",
        type: "device.up",
        subject: { name: "gate camera" },
        actor: "system",
        detail: {},
      });
      assertEquals(marked, unread);
      assertEquals(await store.countUnreadEvents("t-1", alice), 1, "the late event only");
      const left = await store.listEvents("t-1", { reader: alice, unread: true });
      assertEquals(left.map((e) => e.type), ["device.up"]);
      assertEquals(await store.countUnreadEvents("t-1", bob), unread + 1, "bob's stay unread");
      assertEquals(await store.countUnreadEvents("t-2", alice), 100, "another tenant's too");
    } finally {
      await store.close();
    }
    // Mark-all wrote the reader's watermark, not the events (their read_at is the old state).
    const after = new DatabaseSync(path);
    try {
      const n = after.prepare("SELECT COUNT(*) AS n FROM events WHERE read_at IS NOT NULL").get();
      assertEquals(Number(n!.n), Math.ceil(total / 4));
    } finally {
      after.close();
    }
  }));
