/**
 * Store outages become the catalogue's `store_unavailable` in one place (`outage.ts`): a real
 * MongoDB (FerretDB from the fixture) killed under an open store fails fast with it and works
 * again when the server returns; a real SQLite file locked by another connection past the busy
 * timeout maps the same way; what is not an outage (a duplicate key, a bug) passes through.
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MongoNetworkError, MongoServerError, MongoWriteConcernError } from "mongodb";
import { AppError, CATALOGUE } from "../../../../src/shared/errors.ts";
import { openStore } from "../../../../src/cloud/store/open.ts";
import {
  asStoreError,
  guardStore,
  isStoreOutage,
  logStoreFailure,
  probeStore,
} from "../../../../src/cloud/store/outage.ts";
import { driverTimeouts } from "../../../../src/cloud/store/mongo.ts";
import { startFerretDb } from "../../../_fixtures/ferretdb.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";
import { until } from "../../../_fixtures/until.ts";

async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    assert.ok(
      e instanceof AppError,
      `expected an AppError, got ${e} ${
        JSON.stringify({
          name: (e as Error).name,
          code: (e as { code?: string }).code,
          cause: String((e as Error).cause),
        })
      }`,
    );
    return e;
  }
  assert.fail("expected a refusal");
}

Deno.test("the catalogue's store_unavailable is a 503 with the operator's wording", () => {
  assert.equal(CATALOGUE.store_unavailable.http, 503);
  assert.equal(
    new AppError("store_unavailable").message,
    "the cloud cannot reach its database; try again shortly",
  );
});

Deno.test("driver outages are recognized, other failures are not", () => {
  assert.ok(isStoreOutage(new MongoNetworkError("connection reset")));
  assert.ok(isStoreOutage(new MongoServerError({ code: 10107, errmsg: "not primary" })));
  assert.ok(isStoreOutage(new Error("wrapped", { cause: new MongoNetworkError("x") })));
  // What the driver lets through under Deno when the server dies mid-write.
  const epipe = Object.assign(new Error("This socket has been ended by the other party"), {
    code: "EPIPE",
  });
  assert.ok(isStoreOutage(epipe));
  assert.ok(!isStoreOutage(new MongoServerError({ code: 11000, errmsg: "E11000 duplicate" })));
  // w: "majority" not acknowledged within wtimeoutMS (a replica set without a majority).
  const wtimeout = new MongoWriteConcernError(
    {
      writeConcernError: { code: 64, errmsg: "waiting for replication timed out" },
    } as unknown as ConstructorParameters<typeof MongoWriteConcernError>[0],
  );
  assert.ok(isStoreOutage(wtimeout));
  assert.ok(!isStoreOutage(new TypeError("a bug")));
  assert.ok(!isStoreOutage(new AppError("conflict")));
  const mapped = asStoreError(new MongoNetworkError("gone"));
  assert.ok(mapped instanceof AppError && mapped.code === "store_unavailable");
  const bug = new TypeError("a bug");
  assert.equal(asStoreError(bug), bug, "other errors pass through unchanged");
});

Deno.test("the URI's own driver timeouts win over the runtime defaults", () => {
  assert.equal(driverTimeouts("mongodb://h/db").serverSelectionTimeoutMS, 3_000);
  const t = driverTimeouts("mongodb://h/db?directConnection=true&serverSelectionTimeoutMS=9000");
  assert.equal(t.serverSelectionTimeoutMS, undefined);
  assert.equal(t.connectTimeoutMS, 3_000);
});

Deno.test("a SQLite file locked past the busy timeout is store_unavailable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-outage-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  const holder = new DatabaseSync(`${dir}/cloud.db`);
  try {
    holder.exec("BEGIN EXCLUSIVE");
    const e = await refusal(store.createTenant({ name: "Locked" }));
    assert.equal(e.code, "store_unavailable");
    holder.exec("ROLLBACK");
    assert.equal((await store.createTenant({ name: "Free" })).name, "Free");
  } finally {
    holder.close();
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a SQLite database whose disk is full is store_unavailable; its cause is logged", () => {
  // A real SQLITE_FULL from node:sqlite: the connection may not grow the file past its pages
  // (what a full disk gives every write). tests/e2e/store_disk_full_test.ts fills a real limit.
  const db = new DatabaseSync(":memory:");
  db.exec("CREATE TABLE t (x TEXT)");
  const pages = Number(db.prepare("PRAGMA page_count").get()!.page_count);
  db.exec(`PRAGMA max_page_count = ${pages + 2}`);
  const insert = db.prepare("INSERT INTO t (x) VALUES (?)");
  let full: unknown;
  try {
    for (let i = 0; i < 100; i++) insert.run("x".repeat(4000));
  } catch (e) {
    full = e;
  }
  let execFull: unknown; // exec() reports only the message
  try {
    db.exec(`INSERT INTO t (x) VALUES ('${"y".repeat(8000)}')`);
  } catch (e) {
    execFull = e;
  }
  db.close();
  for (const e of [full, execFull]) {
    assert.match(String((e as Error)?.message), /database or disk is full/);
    assert.ok(isStoreOutage(e), String(e));
    const mapped = asStoreError(e) as AppError;
    assert.equal(mapped.code, "store_unavailable");
    assert.equal(mapped.message, CATALOGUE.store_unavailable.message, "clients see the catalogue");
    const lines: Record<string, unknown>[] = [];
    const log = {
      warn: (f: Record<string, unknown>) => lines.push(f),
      error: (f: Record<string, unknown>) => lines.push({ ...f, level: "error" }),
    } as unknown as Parameters<typeof logStoreFailure>[0];
    logStoreFailure(log, mapped, `write ${crypto.randomUUID()}`);
    assert.match(String(lines[0]?.cause), /database or disk is full/, JSON.stringify(lines));
    assert.equal(lines[0]?.level, undefined, "a warning, not an error");
  }
  // Not every SQLite error is an outage: a constraint is the caller's.
  const db2 = new DatabaseSync(":memory:");
  db2.exec("CREATE TABLE u (x TEXT UNIQUE); INSERT INTO u VALUES ('a')");
  let dup: unknown;
  try {
    db2.prepare("INSERT INTO u VALUES (?)").run("a");
  } catch (e) {
    dup = e;
  }
  db2.close();
  assert.ok(dup instanceof Error && !isStoreOutage(dup), String(dup));
});

Deno.test("a guarded store passes results and non-outage errors through", async () => {
  const fake = {
    getTenant: (id: string) => Promise.resolve({ id, name: "T", createdAt: 1 }),
    listTenants: () => Promise.reject(new TypeError("a bug")),
  } as unknown as Store;
  const g = guardStore(fake);
  assert.equal((await g.getTenant("t_1"))?.id, "t_1");
  await assert.rejects(g.listTenants(), TypeError);
  // A method replaced on the store after a first call is the one called (and still guarded).
  (fake as { getTenant: unknown }).getTenant = () => Promise.reject(new MongoNetworkError("gone"));
  assert.equal((await refusal(g.getTenant("t_1"))).code, "store_unavailable");
});

Deno.test("MongoDB killed under an open store: fast 503s, probe fails, all back when it returns", async () => {
  const ferret = await startFerretDb();
  const dir = await Deno.makeTempDir({ prefix: "nanodems-outage-" });
  const store = await openStore(ferret.url, dir);
  try {
    const t = await store.createTenant({ name: "Before" });
    await probeStore(store);
    await ferret.halt();

    const started = Date.now();
    const e = await refusal(store.getTenant(t.id));
    assert.equal(e.code, "store_unavailable");
    assert.ok(Date.now() - started < 15_000, "fails within the driver's selection timeout");
    assert.equal((await refusal(store.createTenant({ name: "During" }))).code, "store_unavailable");
    assert.equal((await refusal(probeStore(store, 1_000))).code, "store_unavailable");

    await ferret.resume();
    await until(
      "the same store working again without reopening",
      () => probeStore(store).then(() => true, () => false),
      30_000,
      250,
    );
    assert.equal((await store.getTenant(t.id))?.name, "Before");
  } finally {
    await store.close();
    await ferret.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("outage warnings are folded: one per kind every 10 s, errors always logged", () => {
  const lines: { level: string; fields: Record<string, unknown>; msg: string }[] = [];
  const log = {
    warn: (fields: Record<string, unknown>, msg: string) =>
      lines.push({ level: "warn", fields, msg }),
    error: (fields: Record<string, unknown>, msg: string) =>
      lines.push({ level: "error", fields, msg }),
  } as unknown as Parameters<typeof logStoreFailure>[0];
  const down = new AppError("store_unavailable");
  const what = `heartbeat ${crypto.randomUUID()}`;
  for (let i = 0; i < 5; i++) logStoreFailure(log, down, what, {}, 1_000 + i);
  logStoreFailure(log, new TypeError("a bug"), what, {}, 1_010);
  logStoreFailure(log, down, what, {}, 11_000);
  assert.deepEqual(lines.map((l) => [l.level, l.fields.suppressed ?? 0]), [
    ["warn", 0],
    ["error", 0],
    ["warn", 4],
  ]);
});
