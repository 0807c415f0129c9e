// The SQLite store's audit queries on a trail longer than several scan windows, on a real file.
// A tenant and an action pick candidates on an index (a tenant's action on audit_tenant_action,
// not every tenant's rows of that action); an actor or a target, which have no index, filter the
// candidates AUDIT_SCAN_WINDOW at a time with the event loop turning between windows. Each query
// returns exactly what a filter over the whole trail returns, newest first, and pages with
// `before` without losing or repeating an entry.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { AUDIT_SCAN_WINDOW, openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import type { AuditQuery } from "../../../../src/cloud/store/store.ts";

interface Row {
  seq: number;
  tenant: string;
  actor: string;
  action: string;
  target: string;
}

/** The rows inserted: mostly tunnel opens of one tenant, a rare actor and target among them. */
function trail(): Row[] {
  const rows: Row[] = [];
  for (let i = 1; i <= 3 * AUDIT_SCAN_WINDOW + 123; i++) {
    const tenant = i % 7 === 0 ? "t-small" : "t-big";
    const actor = i % 1_237 === 0 ? "user:u-rare" : `license:l-${i % 5}`;
    const action = i % 901 === 0 ? "agent.revoke" : i % 2 ? "tunnel.open" : "tunnel.close";
    const target = i % 2_003 === 0 ? "dev-rare" : `h-${i % 50}`;
    rows.push({ seq: i, tenant, actor, action, target });
  }
  return rows;
}

function expected(rows: Row[], q: AuditQuery): number[] {
  return rows.filter((r) =>
    (q.tenantId === undefined || r.tenant === q.tenantId) &&
    (q.action === undefined || r.action === q.action) &&
    (q.actor === undefined || r.actor === q.actor) &&
    (q.target === undefined || r.target === q.target) &&
    (q.before === undefined || r.seq < q.before)
  ).map((r) => r.seq).reverse().slice(0, q.limit ?? 100);
}

Deno.test("sqlite audit: filters over several scan windows, exact and newest first; paging; the loop turns", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    await (await openSqliteStore({ path })).close();
    const rows = trail();
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const ins = db.prepare(
      `INSERT INTO audit (seq, tenant_id, at, actor, action, target, detail)
       VALUES (?, ?, ?, ?, ?, ?, '{}')`,
    );
    for (const r of rows) ins.run(r.seq, r.tenant, r.seq, r.actor, r.action, r.target);
    db.exec("COMMIT");
    const plan = db.prepare(
      `EXPLAIN QUERY PLAN SELECT * FROM audit WHERE tenant_id = ? AND action = ? AND seq < ?
       ORDER BY seq DESC LIMIT ?`,
    ).all("t-small", "tunnel.open", 1e9, 10).map((r) => String(r.detail)).join("; ");
    db.close();
    assert(/INDEX audit_tenant_action/.test(plan), `a tenant's action: ${plan}`);

    const store = await openSqliteStore({ path });
    try {
      const queries: AuditQuery[] = [
        { tenantId: "t-big", actor: "user:u-rare", limit: 1000 },
        { tenantId: "t-big", target: "dev-rare", limit: 1000 },
        { tenantId: "t-big", actor: "user:u-rare", target: "dev-rare", limit: 1000 },
        { tenantId: "t-big", actor: "user:u-rare", action: "tunnel.open", limit: 1000 },
        { tenantId: "t-small", actor: "user:u-rare", limit: 1000 },
        { actor: "user:u-rare", limit: 5 },
        { tenantId: "t-big", target: "h-7", limit: 20, before: 2 * AUDIT_SCAN_WINDOW },
        { tenantId: "t-small", action: "agent.revoke", limit: 1000 },
        { tenantId: "t-big", action: "tunnel.open", limit: 30 },
        { tenantId: "t-big", actor: "user:nobody", limit: 10 },
      ];
      for (const q of queries) {
        const got = (await store.listAudit(q)).map((e) => e.seq);
        assertEquals(got, expected(rows, q), JSON.stringify(q));
      }
      const rare = expected(rows, queries[0]);
      assert(rare.length >= 8 && rare[0] - rare.at(-1)! > 2 * AUDIT_SCAN_WINDOW, "rare, spread");

      // Paging by `before` through a rare actor: every entry once, in order.
      const paged: number[] = [];
      let before: number | undefined;
      for (;;) {
        const page = await store.listAudit({
          tenantId: "t-big",
          actor: "user:u-rare",
          limit: 4,
          before,
        });
        if (page.length === 0) break;
        paged.push(...page.map((e) => e.seq));
        before = page.at(-1)!.seq;
      }
      assertEquals(paged, expected(rows, { tenantId: "t-big", actor: "user:u-rare", limit: 1e6 }));

      // Nothing matches: every candidate is read, window after window.
      const { result, turns } = await countLoopTurns(() =>
        store.listAudit({ tenantId: "t-big", actor: "user:nobody" })
      );
      assertEquals(result, []);
      assert(turns > 0, "the event loop turned while the trail was scanned");
    } finally {
      await store.close();
    }
  }));
