/**
 * `connector cloud --audit-retention-days` as an operator runs it: a real cloud on its embedded
 * store whose audit trail holds entries from 40 and 400 days ago is restarted with the flag
 * set to 30; its daily janitor (which runs a second after start when due) removes the old
 * entries, keeps the recent ones, and the tenant's trail, read through the API as a user would,
 * shows one `audit.purge` entry with what went. The first cloud has led its jobs before it is
 * stopped, so this also shows a graceful stop hands the job locks over: the restarted cloud
 * (a new lock owner) leads at once, not when the old lease runs out 90 s later.
 */
import { DatabaseSync } from "node:sqlite";
import { assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";

const DAY = 86_400_000;

Deno.test("--audit-retention-days 30: a restarted cloud purges older audit entries and records audit.purge", async () => {
  const stack = await Stack.start({ store: "sqlite:" });
  try {
    const q = await stack.quickstart([22]);
    const headers = { authorization: `Bearer ${q.apiToken}` };
    const actions = async () => {
      const r = await fetch(`${stack.url}/api/audit?limit=500`, { headers });
      return ((await r.json()).items as { action: string }[]).map((e) => e.action);
    };
    /** The trail from the store, oldest first (the cloud is stopped while it is read). */
    const trail = () => {
      const db = new DatabaseSync(`${stack.dataDir}/connector.db`);
      try {
        return db.prepare("SELECT action FROM audit ORDER BY seq").all().map((r) =>
          String(r.action)
        );
      } finally {
        db.close();
      }
    };
    // The first cloud's first tick (a second after start) takes the job locks and books the
    // janitor's next run.
    const janitorBooked = () => {
      const db = new DatabaseSync(`${stack.dataDir}/connector.db`, { readOnly: true });
      try {
        return db.prepare("SELECT value FROM counters WHERE name = ?")
          .get("job:stats-janitor:next-run") !== undefined;
      } finally {
        db.close();
      }
    };
    await until("the first cloud ran its jobs", janitorBooked, 20_000);
    await stack.cloud.stop();
    // Entries written long ago, before the quickstart's (the store stamps new entries with the
    // current time and the next number, so they are put in directly, numbered below the
    // others), and the janitor made due again.
    const db = new DatabaseSync(`${stack.dataDir}/connector.db`);
    try {
      const ins = db.prepare(
        `INSERT INTO audit (seq, tenant_id, at, actor, action, target, detail)
         VALUES (?, ?, ?, 'user:u-old', ?, '', '{}')`,
      );
      ins.run(-2, q.tenantId, Date.now() - 400 * DAY, "old.first");
      ins.run(-1, q.tenantId, Date.now() - 40 * DAY, "old.second");
      db.exec("DELETE FROM counters WHERE name = 'job:stats-janitor:next-run'");
    } finally {
      db.close();
    }
    const before = await trail();
    stack.cloudArgs = ["--audit-retention-days", "30"];
    await stack.startCloud();
    const deadline = Date.now() + 20_000;
    while (!(await actions()).includes("audit.purge")) {
      if (Date.now() > deadline) throw new Error(`no audit.purge: ${await actions()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const purge = await (await fetch(`${stack.url}/api/audit?action=audit.purge`, { headers }))
      .json();
    assertEquals(purge.items.length, 1);
    assertEquals(purge.items[0].actor, "system");
    assertEquals(purge.items[0].detail.entries, 2);
    assertEquals(purge.items[0].detail.retentionDays, 30);
    // Every recent entry is still there; only the two old ones went.
    const now = (await actions()).reverse().filter((a) => a !== "audit.purge");
    assertEquals(now.slice(0, before.length - 2), before.slice(2));
    assertEquals(before.slice(0, 2), ["old.first", "old.second"]);
  } finally {
    await stack.stop();
  }
});
