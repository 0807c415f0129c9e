// The SQLite store's retention purge of events and finished webhook deliveries works PURGE_PAGE
// rows per statement on the time indexes, with a turn of the event loop between pages, so 90 days
// of a busy tenant's events never hold the cloud's event loop in one statement. On a real file
// with more rows than two pages: exactly the old events and the old finished deliveries go, the
// newer ones and every pending delivery stay, the event loop turned while it purged, and neither delete
// scans its whole table.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { PURGE_PAGE } from "../../../../src/cloud/store/sqlite_alerts.ts";

const T0 = Date.UTC(2026, 2, 1);
const CUTOFF = T0 + 1_000_000;

Deno.test("sqlite purgeEvents: pages on the time indexes, exact rows, the event loop turns", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    await (await openSqliteStore({ path })).close();
    const old = 2 * PURGE_PAGE + 37;
    const kept = 250;
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    db.prepare(
      `INSERT INTO webhooks (id, tenant_id, url, events, secret_seed, created_at, created_by)
       VALUES ('wh_1', 't_1', 'https://hooks.test/x', '[]', 's', 0, 'u')`,
    ).run();
    const ev = db.prepare(
      `INSERT INTO events (key, tenant_id, type, at, subject, actor, detail)
       VALUES (?, 't_1', 'device.down', ?, '{}', 'system', '{}')`,
    );
    const dl = db.prepare(
      `INSERT INTO webhook_deliveries (id, tenant_id, webhook_id, event_type, body, state,
         attempts, next_attempt_at, created_at) VALUES (?, 't_1', 'wh_1', 'x', '{}', ?, '[]', 0, ?)`,
    );
    for (let i = 0; i < old + kept; i++) {
      const at = i < old ? T0 + i : CUTOFF + i;
      ev.run(`k${i}`, at);
      // Every third old delivery is still pending: it stays whatever its age.
      dl.run(`d${i}`, i < old && i % 3 === 0 ? "pending" : "delivered", at);
    }
    db.exec("COMMIT");
    const plan = (sql: string) =>
      db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(CUTOFF, PURGE_PAGE).map((r) => String(r.detail))
        .join("; ");
    const evPlan = plan("SELECT seq FROM events WHERE at < ? LIMIT ?");
    const dlPlan = plan(
      "SELECT rowid FROM webhook_deliveries WHERE created_at < ? AND state != 'pending' LIMIT ?",
    );
    db.close();
    assert(/USING (COVERING )?INDEX events_at/.test(evPlan), `events purge plan: ${evPlan}`);
    assert(
      /USING INDEX webhook_deliveries_created/.test(dlPlan),
      `deliveries purge plan: ${dlPlan}`,
    );

    const store = await openSqliteStore({ path });
    try {
      const { result: purged, turns } = await countLoopTurns(() => store.purgeEvents(CUTOFF));
      const pendingOld = Math.ceil(old / 3);
      assertEquals(purged, { events: old, deliveries: old - pendingOld });
      assert(turns > 0, "the event loop turned between pages");
      const left = await store.listEvents("t_1", { limit: 500 });
      assertEquals(left.length, kept);
      assert(left.every((e) => e.at >= CUTOFF), "only the newer events are left");
      assertEquals(await store.purgeEvents(CUTOFF), { events: 0, deliveries: 0 }, "idempotent");
    } finally {
      await store.close();
    }
    const after = new DatabaseSync(path);
    const n = (sql: string) => Number(after.prepare(sql).get()!.n);
    try {
      assertEquals(n("SELECT count(*) AS n FROM webhook_deliveries"), kept + Math.ceil(old / 3));
      assertEquals(
        n(`SELECT count(*) AS n FROM webhook_deliveries
           WHERE created_at < ${CUTOFF} AND state != 'pending'`),
        0,
        "old finished deliveries are gone, pending ones stay",
      );
    } finally {
      after.close();
    }
  }));
