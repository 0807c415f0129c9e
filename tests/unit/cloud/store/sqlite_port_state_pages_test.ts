// The SQLite store's reachability pages on a site of many devices, on a real file: a page of
// states costs its own rows. Each state's pair is looked up on devices_site_host by site AND
// host (not by site alone, which read every device of the site per state: 290 ms for a page of
// 1 000 down states at 10 000 devices), and a page of only down (or up) states walks
// port_states_site_up instead of every state of the site. The pages themselves are the
// conformance suite's business; here, the plan of the store's own SQL and a down-only walk that
// returns exactly the down pairs in order.
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import { pagePortStatesSql } from "../../../../src/cloud/store/sqlite_alerts.ts";

const DEVICES = 600;

Deno.test("sqlite reachability pages: looked up by site and host; a down-only page walks its own index", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const store = await openSqliteStore({ path });
    let tenantId = "", siteId = "";
    const down: string[] = [];
    try {
      const t = await store.createTenant({ name: "Acme" });
      const s = await store.createSite({ tenantId: t.id, name: "HQ" });
      tenantId = t.id;
      siteId = s.id;
      const states = [];
      for (let i = 0; i < DEVICES; i++) {
        const host = `10.0.${i >> 8}.${i & 255}`;
        await store.createDevice({ tenantId, siteId, host, ports: [80, 554] });
        for (const port of [80, 554]) {
          const up = i % 10 !== 0;
          if (!up) down.push(`${host}:${port}`);
          states.push({ tenantId, siteId, host, port, up, since: 1, error: "", agentId: "ag-1" });
        }
      }
      await store.recordPortStates(states);
      // Walk the down pairs 7 at a time: exactly those, in (host, port) order.
      const got: string[] = [];
      let after: { host: string; port: number } | undefined;
      for (;;) {
        const page = await store.pagePortStates(tenantId, siteId, { after, up: false, limit: 7 });
        got.push(...page.map((x) => `${x.host}:${x.port}`));
        if (page.length < 7) break;
        after = { host: page.at(-1)!.host, port: page.at(-1)!.port };
      }
      assertEquals(
        got,
        [...down].sort((x, y) => {
          const [hx, px] = x.split(":"), [hy, py] = y.split(":");
          return hx < hy ? -1 : hx > hy ? 1 : Number(px) - Number(py);
        }),
      );
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path);
    try {
      db.exec("ANALYZE");
      const plan = (filtered: boolean) =>
        db.prepare(`EXPLAIN QUERY PLAN ${pagePortStatesSql(filtered)}`)
          .all(...(filtered ? [siteId, 0] : [siteId]), tenantId, "", "", -1, 1000)
          .map((r) => String(r.detail)).join("; ");
      for (const filtered of [false, true]) {
        const p = plan(filtered);
        assert(/devices_site_host \(site_id=\? AND <expr>=\?\)/.test(p), `by site and host: ${p}`);
        if (filtered) assert(/port_states_site_up \(site_id=\? AND up=\?\)/.test(p), p);
      }
    } finally {
      db.close();
    }
  }));
