// A tenant's events by site, device and type in the SQLite store (the Events page's filters, a
// camera's recent alerts): a tenant with many sites and 90 days of events must not read them all
// to show one site's page or one quiet camera's alerts. Each statement the store runs uses the
// index that fits (read from SQLite's own query plan), the site's (migration 39) also for events
// stored before it: the column is computed from the subject each event was stored with.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { eventsQuery } from "../../../../src/cloud/store/sqlite_alerts.ts";
import type { EventQuery } from "../../../../src/cloud/store/store.ts";

Deno.test("sqlite events by site, device and type: each query on its index, newest first, rows stored before the site column included", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    await (await openSqliteStore({ path })).close();
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    // Written as rows, as an older version stored them: the ids live in the subject only.
    const ins = db.prepare(
      `INSERT INTO events (key, tenant_id, type, at, subject, actor, detail, read_at)
       VALUES (?, ?, ?, ?, ?, 'system', '{}', NULL)`,
    );
    const types = ["device.down", "device.up", "camera.motion", "agent.offline"];
    for (let i = 0; i < 2_000; i++) {
      const subject = { name: `d${i}`, siteId: `s-${i % 20}`, deviceId: `dev-${i % 40}` };
      ins.run(`k${i}`, "t-1", types[i % 4], i, JSON.stringify(subject));
    }
    ins.run("other", "t-2", "device.down", 1, JSON.stringify({ name: "x", siteId: "s-3" }));
    db.exec("COMMIT");
    const plan = (q: EventQuery) => {
      const { sql, params } = eventsQuery("t-1", q)!;
      return db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((r) => String(r.detail))
        .join("; ");
    };
    const cases: [EventQuery, RegExp][] = [
      [
        { siteId: "s-3" },
        /^SEARCH events USING INDEX events_tenant_site \(tenant_id=\? AND site_id=\?\)$/,
      ],
      [
        { siteId: "s-3", before: 900 },
        /INDEX events_tenant_site \(tenant_id=\? AND site_id=\? AND seq<\?\)$/,
      ],
      [{ deviceId: "dev-3" }, /^SEARCH events USING INDEX events_tenant_device/],
      [{ types: ["camera.motion"] }, /^SEARCH events USING INDEX events_tenant_type/],
      [
        { types: ["camera.motion", "device.up"], before: 900 },
        /^(?!.*USING INDEX events_tenant \().*events_tenant_type.*events_tenant_type/,
      ],
      [{ unread: true }, /^SEARCH events USING INDEX events_unread/],
      [{}, /^SEARCH events USING INDEX events_tenant \(tenant_id=\?\)$/],
    ];
    for (const [q, expected] of cases) {
      const p = plan(q);
      assert(expected.test(p), `${JSON.stringify(q)}: ${p}`);
      assert(!/SCAN events/.test(p), `${JSON.stringify(q)} scans the table: ${p}`);
    }
    db.close();

    const store = await openSqliteStore({ path });
    try {
      const bySite = await store.listEvents("t-1", { siteId: "s-3", limit: 500 });
      assertEquals(bySite.length, 100);
      assert(bySite.every((e) => e.tenantId === "t-1" && e.subject.siteId === "s-3"));
      assertEquals(bySite[0].subject.name, "d1983", "newest first");
      // Two types, merged newest first and cut at the limit; a type named twice counts once.
      const two = await store.listEvents("t-1", {
        types: ["camera.motion", "device.up", "camera.motion"],
        before: 1_000,
        limit: 5,
      });
      assertEquals(two.map((e) => e.subject.name), ["d998", "d997", "d994", "d993", "d990"]);
      assertEquals(await store.listEvents("t-1", { types: [] }), []);
    } finally {
      await store.close();
    }
  }));
