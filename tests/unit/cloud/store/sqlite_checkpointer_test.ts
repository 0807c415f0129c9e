// WAL checkpoints in a worker (src/cloud/store/sqlite_checkpointer.ts), on real SQLite files:
// once the worker runs, the cloud's connection never checkpoints (wal_autocheckpoint 0) and yet
// the database file fills as commits accumulate in the WAL; stopping folds everything back and
// leaves no WAL behind; a worker that fails hands checkpoints back to the connection, and says
// why. Durability through the store: audit entries written with the worker are there on reopen.
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  AUTO_CHECKPOINT_PAGES,
  startCheckpointer,
} from "../../../../src/cloud/store/sqlite_checkpointer.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";

function walDb(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)");
  return db;
}

const autoCheckpoint = (db: DatabaseSync) =>
  Number(db.prepare("PRAGMA wal_autocheckpoint").get()!.wal_autocheckpoint);

const size = (path: string) => {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
};

Deno.test("checkpointer: the worker fills the database file while the connection never checkpoints", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const db = walDb(path);
    const cp = startCheckpointer(db, path, { everyMs: 20 });
    assertEquals(await cp.ready, "background");
    assertEquals(autoCheckpoint(db), 0, "the connection no longer checkpoints");
    const before = size(path);
    const insert = db.prepare("INSERT INTO t (body) VALUES (?)");
    for (let i = 0; i < 3000; i++) insert.run("x".repeat(200)); // 3 000 commits, ~150 pages
    // Only a checkpoint moves pages from the WAL into the file; this connection makes none.
    for (let i = 0; i < 500 && size(path) < before + 300_000; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(size(path) >= before + 300_000, `file ${size(path)} bytes (was ${before})`);
    await cp.stop();
    assertEquals(cp.state, "inline");
    assertEquals(autoCheckpoint(db), AUTO_CHECKPOINT_PAGES, "back to checkpointing on its own");
    db.close();
    // The worker closed its connection first, so this close was the last and folded the WAL.
    assertEquals(size(`${path}-wal`), 0);
    const again = new DatabaseSync(path);
    assertEquals(Number(again.prepare("SELECT count(*) AS n FROM t").get()!.n), 3000);
    again.close();
  }));

Deno.test("checkpointer: a worker that fails hands checkpoints back, and says why", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const db = walDb(path);
    const broken = `${dir}/broken_worker.ts`;
    await Deno.writeTextFile(broken, 'throw new Error("no sqlite here");\n');
    const heard: string[] = [];
    const cp = startCheckpointer(db, path, {
      workerUrl: new URL(`file://${broken}`),
      onFallback: (why) => heard.push(why),
    });
    assertEquals(await cp.ready, "inline");
    assertEquals(autoCheckpoint(db), AUTO_CHECKPOINT_PAGES);
    assertEquals(heard.length, 1);
    assert(heard[0].includes("no sqlite here"), heard[0]);
    await cp.stop();
    db.close();
  }));

Deno.test("checkpointer: a worker that cannot open the file hands checkpoints back", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const db = walDb(path);
    const heard: string[] = [];
    // The worker opens the path it is given: a directory is not a database.
    const cp = startCheckpointer(db, dir, { everyMs: 20, onFallback: (why) => heard.push(why) });
    for (let i = 0; i < 250 && cp.state !== "inline"; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(cp.state, "inline");
    assertEquals(autoCheckpoint(db), AUTO_CHECKPOINT_PAGES);
    assertEquals(heard.length, 1, heard.join("\n"));
    await cp.stop();
    db.close();
  }));

Deno.test("sqlite store with background checkpoints: what was written is there after a reopen", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/connector.db`;
    const store = await openSqliteStore({ path, backgroundCheckpoints: {} });
    for (let i = 0; i < 500; i++) {
      await store.appendAudit({
        tenantId: null,
        actor: "test",
        action: "tunnel.open",
        target: `h-${i}`,
        detail: { i },
      });
    }
    await store.close();
    assertEquals(size(`${path}-wal`), 0, "closed cleanly: nothing left in the WAL");
    const again = await openSqliteStore({ path });
    const entries = await again.listAudit({ actor: "test", limit: 1000 });
    assertEquals(entries.length, 500);
    await again.close();
  }));
