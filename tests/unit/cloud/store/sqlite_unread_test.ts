// A tenant's unread events in the SQLite store, on a real file with more of them than several
// pages. The console's badge counts them every second per open tab, and the count read all of
// the tenant's events (90 days of them): it and the unread list now use the partial index
// events_unread. "Mark all read" works a page at a time with the event loop turning, marks what
// was unread when it was asked (an event arriving meanwhile stays unread), and only the tenant's.
import { DatabaseSync } from "node:sqlite";
import { setImmediate } from "node:timers";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { PURGE_PAGE } from "../../../../src/cloud/store/sqlite_alerts.ts";

Deno.test("sqlite unread events: counted and listed on their index; mark all read in pages", () =>
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
    // Every fourth event of t-1 was read; every event of t-2 is unread.
    for (let i = 0; i < total; i++) ins.run(`k${i}`, "t-1", i, i % 4 === 0 ? i : null);
    for (let i = 0; i < 100; i++) ins.run(`o${i}`, "t-2", i, null);
    db.exec("COMMIT");
    const plan = (sql: string) =>
      db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all().map((r) => String(r.detail)).join("; ");
    const countPlan = plan(
      "SELECT COUNT(*) AS n FROM events WHERE tenant_id = 't-1' AND read_at IS NULL",
    );
    const listPlan = plan(
      `SELECT * FROM events WHERE tenant_id = 't-1' AND seq < 9e9 AND seq > 0 AND read_at IS NULL
       ORDER BY seq DESC LIMIT 50`,
    );
    db.close();
    assert(/INDEX events_unread/.test(countPlan), `count: ${countPlan}`);
    assert(/INDEX events_unread/.test(listPlan), `unread list: ${listPlan}`);

    const unread = total - Math.ceil(total / 4);
    const store = await openSqliteStore({ path });
    try {
      assertEquals(await store.countUnreadEvents("t-1"), unread);
      const listed = await store.listEvents("t-1", { unread: true, limit: 500 });
      assertEquals(listed.length, 500);
      assert(listed.every((e) => e.readAt === null && e.tenantId === "t-1"));
      assertEquals(listed[0].seq > listed[1].seq, true, "newest first");

      // An event that arrives while the marking runs stays unread.
      let arrived: Promise<unknown> = Promise.resolve();
      const { result: marked, turns } = await countLoopTurns(() => {
        const mark = store.markEventsRead("t-1", "all");
        setImmediate(() => {
          arrived = store.appendEvent({
            key: "late",
            tenantId: "t-1",
            type: "device.up",
            subject: { name: "gate camera" },
            actor: "system",
            detail: {},
          });
        });
        return mark;
      });
      await arrived;
      assertEquals(marked, unread);
      assert(turns > 0, "the event loop turned between pages");
      assertEquals(await store.countUnreadEvents("t-1"), 1, "the late event only");
      assertEquals((await store.listEvents("t-1", { unread: true }))[0].type, "device.up");
      assertEquals(await store.countUnreadEvents("t-2"), 100, "another tenant's stay unread");
    } finally {
      await store.close();
    }
  }));
