/**
 * The SQLite store against real database files in a temporary directory: the shared
 * conformance suite, then what only the embedded backend promises (files, migrations, several
 * connections and processes on one file, transactions that roll back).
 * @module
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { ManualClock } from "../../../../src/shared/clock.ts";
import {
  LOOPBACK_CAPACITY,
  loopbackAddress,
  openSqliteStore,
} from "../../../../src/cloud/store/sqlite.ts";
import { MIGRATIONS } from "../../../../src/cloud/store/sqlite_migrations.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";
import { storeConformance } from "./conformance.ts";

const paths = new WeakMap<Store, string>();
storeConformance("sqlite", async (clock, sameDatabaseAs) => {
  if (sameDatabaseAs) {
    const twin = await openSqliteStore({ path: paths.get(sameDatabaseAs)!, clock });
    return twin; // closed by the case; the first store removes the directory
  }
  const dir = await Deno.makeTempDir({ prefix: "nanodems-store-" });
  const path = `${dir}/cloud.db`;
  const store = await openSqliteStore({ path, clock });
  paths.set(store, path);
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await Deno.remove(dir, { recursive: true });
  };
  return store;
});

/** Runs `fn` with a fresh temporary directory, removed afterwards. */
async function inTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reads one PRAGMA through a separate raw connection. */
function pragma(path: string, name: string): unknown {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(`PRAGMA ${name}`).get()![name];
  } finally {
    db.close();
  }
}

async function tenantAndSite(store: Store) {
  const tenant = await store.createTenant({ name: "Acme" });
  const site = await store.createSite({ tenantId: tenant.id, name: "HQ" });
  return { tenant, site };
}

Deno.test("sqlite store: creates the database file in WAL mode at the current schema version", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const store = await openSqliteStore({ path, clock: new ManualClock() });
    try {
      await store.createTenant({ name: "Acme" });
      assert.ok((await Deno.stat(path)).isFile);
      assert.ok((await Deno.stat(`${path}-wal`)).isFile, "write-ahead log exists while open");
      assert.equal(pragma(path, "journal_mode"), "wal");
      assert.equal(pragma(path, "user_version"), MIGRATIONS.length);
    } finally {
      await store.close();
    }
    await store.close(); // closing twice is harmless
  });
});

Deno.test("sqlite store: reopening keeps data and does not re-run migrations", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const first = await openSqliteStore({ path, clock: new ManualClock() });
    const { tenant, site } = await tenantAndSite(first);
    const device = await first.createDevice({
      tenantId: tenant.id,
      siteId: site.id,
      host: "192.0.2.2",
      ports: [80],
    });
    await first.appendAudit({
      tenantId: tenant.id,
      actor: "system",
      action: "test.one",
      target: "",
      detail: { n: 1 },
    });
    await first.close();

    // The migrations have no IF NOT EXISTS: re-running them would throw here.
    const second = await openSqliteStore({ path, clock: new ManualClock() });
    try {
      assert.equal(pragma(path, "user_version"), MIGRATIONS.length);
      assert.deepEqual(await second.getTenant(tenant.id), tenant);
      assert.deepEqual(await second.getDevice(tenant.id, device.id), device);
      assert.equal((await second.getSiteById(site.id))!.allowlistVersion, 1);
      const next = await second.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: "192.0.2.3",
        ports: [80],
      });
      assert.notEqual(next.loopbackIp, device.loopbackIp, "a reopened store knows what is taken");
      const e = await second.appendAudit({
        tenantId: tenant.id,
        actor: "system",
        action: "test.two",
        target: "",
        detail: {},
      });
      assert.deepEqual((await second.listAudit({})).map((x) => x.action), ["test.two", "test.one"]);
      assert.ok(e.seq > 1);
    } finally {
      await second.close();
    }
  });
});

Deno.test("sqlite store: a second connection on the same file sees the first one's writes", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const clock = new ManualClock();
    const one = await openSqliteStore({ path, clock });
    const two = await openSqliteStore({ path, clock });
    try {
      const { tenant, site } = await tenantAndSite(one);
      assert.deepEqual(await two.getTenant(tenant.id), tenant);
      const d = await two.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: "cam",
        ports: [554],
      });
      assert.deepEqual(await one.getDevice(tenant.id, d.id), d);
      const d2 = await one.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: "cam2",
        ports: [554],
      });
      assert.notEqual(d2.loopbackIp, d.loopbackIp, "loopback counter shared by connections");
      assert.equal((await two.getAllowlist(site.id)).version, 2);

      assert.equal(await one.acquireLock("l", "A", 1000), true);
      assert.equal(await two.acquireLock("l", "B", 1000), false, "the lock is seen by both");

      const values = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 ? one : two).incrementCounter("c")),
      );
      assert.equal(new Set(values).size, 100);
      assert.equal(Math.max(...values), 100);
    } finally {
      await one.close();
      await two.close();
    }
  });
});

Deno.test("sqlite store: another process can write while the store is open", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const store = await openSqliteStore({ path, clock: new ManualClock() });
    try {
      const { tenant } = await tenantAndSite(store);
      const module = new URL("../../../../src/cloud/store/sqlite.ts", import.meta.url).href;
      const code = `
        const { openSqliteStore } = await import(${JSON.stringify(module)});
        console.log("ready");
        const s = await openSqliteStore({ path: ${JSON.stringify(path)} });
        const site = await s.createSite({ tenantId: ${JSON.stringify(tenant.id)}, name: "CLI" });
        await s.incrementCounter("cli");
        await s.close();
        console.log(site.id, Date.now());
      `;
      // Hold the write lock in this process while the child starts writing: it must wait for
      // the lock (busy_timeout), not fail.
      const hold = new DatabaseSync(path);
      hold.exec("BEGIN IMMEDIATE");
      const child = new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", code],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let out = "";
      while (!out.includes("ready\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      await new Promise((r) => setTimeout(r, 300));
      const releasedAt = Date.now();
      hold.exec("COMMIT");
      hold.close();
      for (let r = await lines.read(); !r.done; r = await lines.read()) out += r.value;
      const status = await child.status;
      const stderr = await new Response(child.stderr).text();
      assert.equal(status.code, 0, stderr);
      const [siteId, doneAt] = out.replace("ready\n", "").trim().split(" ");
      assert.ok(Number(doneAt) >= releasedAt, "the child's write waited for the lock");
      assert.equal((await store.getSite(tenant.id, siteId))?.name, "CLI");
      assert.equal(await store.incrementCounter("cli"), 2);
    } finally {
      await store.close();
    }
  });
});

Deno.test("sqlite store: a database with a newer schema version is refused", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const raw = new DatabaseSync(path);
    raw.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    await assert.rejects(
      openSqliteStore({ path }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`schema version ${MIGRATIONS.length + 1}`));
        assert.match(e.message, /newer Nanodems Connector/);
        return true;
      },
    );
    assert.equal(pragma(path, "user_version"), MIGRATIONS.length + 1, "left untouched");
  });
});

Deno.test("sqlite store: :memory: works", async () => {
  const store = await openSqliteStore({ path: ":memory:" });
  try {
    const t = await store.createTenant({ name: "Mem" });
    assert.deepEqual(await store.getTenant(t.id), t);
    assert.ok(Math.abs(t.createdAt - Date.now()) < 60_000, "defaults to the system clock");
  } finally {
    await store.close();
  }
});

Deno.test("sqlite store: a failing multi-step write rolls back completely", async () => {
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: ":memory:", clock });
  try {
    const { tenant, site } = await tenantAndSite(store);
    const agent = { hostname: "h", version: "1", os: "linux", certSerial: "01" };
    for (const hash of ["1".repeat(64), "2".repeat(64)]) {
      await store.createEnrollmentToken({
        hash,
        tenantId: tenant.id,
        siteId: site.id,
        createdAt: clock.now(),
        expiresAt: clock.now() + 1000,
      });
    }
    assert.ok((await store.consumeEnrollmentToken("1".repeat(64), { ...agent, id: "ag" })).ok);
    // Same agent id again: the agent insert fails after the checks passed.
    await assert.rejects(store.consumeEnrollmentToken("2".repeat(64), { ...agent, id: "ag" }));
    const tokens = await store.listEnrollmentTokens(tenant.id, site.id);
    assert.equal(tokens.find((t) => t.hash === "2".repeat(64))!.usedAt, null, "token not spent");

    // A device with an invalid port is refused before anything is written.
    await assert.rejects(
      store.createDevice({ tenantId: tenant.id, siteId: site.id, host: "h", ports: [70000] }),
      RangeError,
    );
    assert.equal((await store.getSiteById(site.id))!.allowlistVersion, 0);
    const d = await store.createDevice({
      tenantId: tenant.id,
      siteId: site.id,
      host: "h",
      ports: [80],
    });
    assert.match(d.loopbackIp, /^127\.0\.\d+\.\d+$/, "the failed create left the store usable");
    await assert.rejects(store.bumpAllowlistVersion("site-missing"));
  } finally {
    await store.close();
  }
});

Deno.test("sqlite store: records must agree on tenant and site; audit is append-only", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const clock = new ManualClock();
    const store = await openSqliteStore({ path, clock });
    try {
      const { tenant, site } = await tenantAndSite(store);
      const other = await store.createTenant({ name: "Other" });
      const d = await store.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: "h",
        ports: [80],
      });
      const handle = {
        id: "h-AAAAAAAAAAAAAAAAAAAAAA",
        tenantId: other.id,
        siteId: site.id,
        deviceId: d.id,
        port: 80,
        agentId: null,
        createdAt: clock.now(),
        expiresAt: null,
        revokedAt: null,
      };
      await assert.rejects(store.createHandle(handle), "handle tenant must match its device");
      await assert.rejects(
        store.createEnrollmentToken({
          hash: "1".repeat(64),
          tenantId: other.id,
          siteId: site.id,
          createdAt: 0,
          expiresAt: 1,
        }),
        "token tenant must match its site",
      );
      const user = await store.createUser({
        tenantId: tenant.id,
        email: "a@x.test",
        passwordHash: "h",
        role: "admin",
      });
      await assert.rejects(
        store.createApiToken({
          hash: "2".repeat(64),
          tenantId: other.id,
          userId: user.id,
          name: "x",
        }),
        "token tenant must match its user",
      );

      const entry = { tenantId: null, actor: "system", action: "a", target: "", detail: {} };
      await store.appendAudit(entry);
      // The retention purge opens its gate only inside its own transaction.
      clock.advance(1);
      assert.equal((await store.purgeAudit(clock.now())).entries, 1);
      await store.appendAudit(entry);
      const raw = new DatabaseSync(path);
      try {
        assert.throws(() => raw.exec("UPDATE audit SET action = 'b'"), /append-only/);
        assert.throws(() => raw.exec("DELETE FROM audit"), /append-only/);
        raw.exec("DELETE FROM audit_purge_gate");
        assert.throws(() => raw.exec("DELETE FROM audit"), /append-only/, "no gate row: closed");
      } finally {
        raw.close();
      }
    } finally {
      await store.close();
    }
  });
});

/** The index of a loopback address (inverse of loopbackAddress). */
function loopbackIndexOf(ip: string): number {
  const [, , x, y] = ip.split(".").map(Number);
  return x * 254 + (y - 1) - 1;
}

Deno.test("sqlite store: loopback addresses; a freed one can be taken again, never a held one", async () => {
  assert.equal(loopbackAddress(0), "127.0.0.2");
  assert.equal(loopbackAddress(252), "127.0.0.254");
  assert.equal(loopbackAddress(253), "127.0.1.1");
  assert.equal(loopbackAddress(253 + 253), "127.0.1.254");
  assert.equal(loopbackAddress(253 + 254), "127.0.2.1");
  assert.equal(loopbackAddress(LOOPBACK_CAPACITY - 1), "127.0.255.254");
  assert.throws(() => loopbackAddress(LOOPBACK_CAPACITY), RangeError);
  assert.throws(() => loopbackAddress(-1), RangeError);

  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    const store = await openSqliteStore({ path, clock: new ManualClock() });
    try {
      const { tenant, site } = await tenantAndSite(store);
      const make = () =>
        store.createDevice({ tenantId: tenant.id, siteId: site.id, host: "h", ports: [80] });
      const [d0, d1, d2] = [await make(), await make(), await make()];
      await store.deleteDevice(tenant.id, d0.id);
      // With every index but d0's held, the only free address is d0's: it is found.
      const raw = new DatabaseSync(path);
      raw.exec(
        `WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < ${LOOPBACK_CAPACITY})
         INSERT INTO devices (id, tenant_id, site_id, host, ports, manufacturer, model, label,
           notes, loopback_n, loopback_ip, created_at, updated_at, serial)
         SELECT 'fill-' || n, '${tenant.id}', '${site.id}', 'h', '[80]', '', '', '', '', n,
           'fill-' || n, 0, 0, NULL FROM s
          WHERE n NOT IN (SELECT loopback_n FROM devices) AND n != ${
          loopbackIndexOf(d0.loopbackIp)
        }`,
      );
      raw.close();
      const again = await make();
      assert.equal(again.loopbackIp, d0.loopbackIp, "the one free address");
      assert.notEqual(again.loopbackIp, d1.loopbackIp);
      assert.notEqual(again.loopbackIp, d2.loopbackIp);
      await assert.rejects(make(), /loopback addresses are in use/);
    } finally {
      await store.close();
    }
  });
});

Deno.test("sqlite store: devices stored before ports had a protocol read the default of each port", async () => {
  await inTempDir(async (dir) => {
    const path = `${dir}/cloud.db`;
    // A database at schema version 11 (before migration 12) with one device.
    const raw = new DatabaseSync(path);
    raw.exec("BEGIN");
    for (const m of MIGRATIONS.slice(0, 11)) raw.exec(m);
    raw.exec("PRAGMA user_version = 11");
    raw.exec(
      `INSERT INTO tenants (id, name, created_at) VALUES ('t1', 'Acme', 1);
       INSERT INTO sites (id, tenant_id, name, created_at) VALUES ('s1', 't1', 'HQ', 1);
       INSERT INTO devices (id, tenant_id, site_id, host, ports, manufacturer, model, label, notes,
         loopback_n, loopback_ip, created_at, updated_at)
       VALUES ('d1', 't1', 's1', '192.0.2.9', '[22,80,443,554,8000,8080,8443,8554]', '', '', '',
         '', 7, '127.0.0.8', 1, 1);`,
    );
    raw.exec("COMMIT");
    raw.close();
    const heard: { from: number; to: number; tookMs?: number }[] = [];
    const store = await openSqliteStore({
      path,
      clock: new ManualClock(),
      onUpgrade: (u) => heard.push(u),
    });
    try {
      // The owner hears of the upgrade before and after (the cloud logs both).
      assert.deepEqual(heard[0], { from: 11, to: MIGRATIONS.length });
      assert.equal(heard.length, 2);
      assert.equal(heard[1].from, 11);
      assert.equal(typeof heard[1].tookMs, "number");
      const d = await store.getDevice("t1", "d1");
      assert.deepEqual(d!.protocols, {
        22: "ssh",
        80: "http",
        443: "https",
        554: "rtsp",
        8000: "tcp",
        8080: "http",
        8443: "https",
        8554: "rtsp",
      });
      assert.deepEqual(d!.streamPaths, {});
      // The migration wrote them: the column holds the same map.
      const db = new DatabaseSync(path);
      const row = db.prepare("SELECT protocols FROM devices WHERE id = 'd1'").get() as {
        protocols: string;
      };
      db.close();
      assert.deepEqual(JSON.parse(row.protocols), d!.protocols);
    } finally {
      await store.close();
    }
    // Up to date, or new: nothing to hear.
    await (await openSqliteStore({ path, onUpgrade: (u) => heard.push(u) })).close();
    await (await openSqliteStore({ path: `${dir}/new.db`, onUpgrade: (u) => heard.push(u) }))
      .close();
    assert.equal(heard.length, 2);
  });
});
