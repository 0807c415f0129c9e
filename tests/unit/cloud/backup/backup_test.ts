// Backup and restore of a data directory, on real files and the real embedded store: the copy is
// consistent while the store is open and its last writes are still in the write-ahead log; keys
// stay 0600; every refusal (a damaged, altered, interrupted or newer backup, a data directory
// that holds a cloud, one a node is running on) says why and writes nothing.
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../../_fixtures/assert.ts";
import { DatabaseSync } from "node:sqlite";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { openDataDir } from "../../../../src/cloud/store/open.ts";
import { ensureCas } from "../../../../src/cloud/pki.ts";
import { loadCloudSecret, SECRET_FILE } from "../../../../src/cloud/tenancy/cloud_secret.ts";
import { makeBackup } from "../../../../src/cloud/backup/backup.ts";
import { restoreBackup } from "../../../../src/cloud/backup/restore.ts";
import {
  BackupError,
  fileDigest,
  MANIFEST_FILE,
  pathExists,
} from "../../../../src/cloud/backup/manifest.ts";
import { MIGRATIONS } from "../../../../src/cloud/store/sqlite_migrations.ts";

/** Asserts a BackupError whose message includes `part`. */
async function refusedWith(fn: () => Promise<unknown>, part: string): Promise<void> {
  const e = await assertRejects(fn);
  assert(e instanceof BackupError, String(e));
  assertStringIncludes(e.message, part);
}

/** A data directory as a first start leaves it, with a tenant; the store stays open. */
async function cloudDir(dir: string) {
  const dataDir = `${dir}/data`;
  const store = await openDataDir(dataDir);
  await ensureCas({ dataDir });
  await loadCloudSecret(`${dataDir}/${SECRET_FILE}`);
  const tenant = await store.createTenant({ name: "Before" });
  return { dataDir, store, tenant };
}

Deno.test("backup of an open store: its last writes, its keys 0600; restored, a store opens on it", async () => {
  await inTempDir(async (dir) => {
    const { dataDir, store, tenant } = await cloudDir(dir);
    try {
      // Written and not checkpointed: in connector.db-wal only, which a file copy would miss.
      const site = await store.createSite({ tenantId: tenant.id, name: "In the WAL" });
      assert((await Deno.stat(`${dataDir}/connector.db-wal`)).size > 0);
      const lines: string[] = [];
      const m = await makeBackup({ dataDir, out: `${dir}/bk`, say: (l) => lines.push(l) });
      assertEquals(m.counts.tenants, 1);
      assertEquals(m.counts.sites, 1);
      assertEquals(m.schemaVersion, MIGRATIONS.length);
      const paths = m.files.map((f) => f.path);
      for (const p of ["connector.db", "ca/agent-ca.key", "ca/agent-ca.pem", SECRET_FILE]) {
        assert(paths.includes(p), `${p} not in ${paths}`);
      }
      for (const f of m.files) {
        const mode = (await Deno.stat(`${dir}/bk/${f.path}`)).mode! & 0o777;
        assertEquals(mode, f.mode, f.path);
        if (/\.key$|connector\.db$/.test(f.path)) assertEquals(mode, 0o600, f.path);
      }
      assertEquals((await Deno.stat(`${dir}/bk`)).mode! & 0o777, 0o700);
      assertMatch(lines.join("\n"), /schema \d+, checked: 1 tenants, 1 sites/);

      // A second backup into the same directory is refused; so is one inside the data dir.
      await refusedWith(() => makeBackup({ dataDir, out: `${dir}/bk` }), "is not empty");
      await refusedWith(
        () => makeBackup({ dataDir, out: `${dataDir}/bk` }),
        "inside the data directory",
      );

      const r = await restoreBackup({ from: `${dir}/bk`, dataDir: `${dir}/new` });
      assertEquals(r.setAside, null);
      const restored = await openDataDir(`${dir}/new`);
      try {
        assertEquals((await restored.listSites(tenant.id)).map((s) => s.id), [site.id]);
      } finally {
        await restored.close();
      }
      assertEquals(
        await Deno.readFile(`${dir}/new/ca/agent-ca.key`),
        await Deno.readFile(`${dataDir}/ca/agent-ca.key`),
      );
      assertEquals((await Deno.stat(`${dir}/new/ca/agent-ca.key`)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(`${dir}/new/${SECRET_FILE}`)).mode! & 0o777, 0o600);
      assertEquals((await Deno.stat(`${dir}/new`)).mode! & 0o777, 0o700);
    } finally {
      await store.close();
    }
  });
});

Deno.test("backup refuses a directory with no database or no cloud secret", async () => {
  await inTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/empty`);
    await refusedWith(
      () => makeBackup({ dataDir: `${dir}/empty`, out: `${dir}/bk` }),
      "no embedded database at",
    );
    const { dataDir, store } = await cloudDir(dir);
    await store.close();
    await Deno.remove(`${dataDir}/${SECRET_FILE}`);
    await refusedWith(() => makeBackup({ dataDir, out: `${dir}/bk` }), "pass --secret-key-file");
    assertEquals(await pathExists(`${dir}/bk`), false, "nothing written");
  });
});

Deno.test("restore refuses a damaged, altered, interrupted or newer backup and writes nothing", async () => {
  await inTempDir(async (dir) => {
    const { dataDir, store } = await cloudDir(dir);
    await store.close();
    const fresh = async (name: string) => {
      await makeBackup({ dataDir, out: `${dir}/${name}` });
      return `${dir}/${name}`;
    };
    const refused = async (from: string, message: string) => {
      await refusedWith(() => restoreBackup({ from, dataDir: `${dir}/target` }), message);
      assertEquals(await pathExists(`${dir}/target`), false, `${message}: something was written`);
    };

    const altered = await fresh("altered");
    await Deno.writeTextFile(`${altered}/ca/agent-ca.pem`, "-----BEGIN CERTIFICATE-----\n");
    await refused(altered, "ca/agent-ca.pem in");

    const missing = await fresh("missing");
    await Deno.remove(`${missing}/${SECRET_FILE}`);
    await refused(missing, `${SECRET_FILE} is missing from the backup`);

    const interrupted = await fresh("interrupted");
    await Deno.remove(`${interrupted}/${MANIFEST_FILE}`);
    await refused(interrupted, "is not a complete backup");

    const damaged = await fresh("damaged");
    await Deno.writeTextFile(`${damaged}/${MANIFEST_FILE}`, "{");
    await refused(damaged, "is damaged: it is not JSON");

    const escaping = await fresh("escaping");
    const m = JSON.parse(await Deno.readTextFile(`${escaping}/${MANIFEST_FILE}`));
    m.files.push({ ...m.files[0], path: "../outside" });
    await Deno.writeTextFile(`${escaping}/${MANIFEST_FILE}`, JSON.stringify(m));
    await refused(escaping, "expected a path inside the backup");

    const future = await fresh("future");
    const fm = JSON.parse(await Deno.readTextFile(`${future}/${MANIFEST_FILE}`));
    await Deno.writeTextFile(`${future}/${MANIFEST_FILE}`, JSON.stringify({ ...fm, format: 2 }));
    await refused(future, "a backup in format 2");

    // A database from a newer version, its manifest consistent with it.
    const newer = await fresh("newer");
    const db = new DatabaseSync(`${newer}/connector.db`);
    db.exec(`PRAGMA user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    const nm = JSON.parse(await Deno.readTextFile(`${newer}/${MANIFEST_FILE}`));
    nm.files[0] = { ...nm.files[0], ...await fileDigest(`${newer}/connector.db`) };
    await Deno.writeTextFile(`${newer}/${MANIFEST_FILE}`, JSON.stringify(nm));
    await refused(newer, `schema version ${MIGRATIONS.length + 1}`);
  });
});

Deno.test("restore over a cloud: only with --force, never while a node runs on it, nothing deleted", async () => {
  await inTempDir(async (dir) => {
    const { dataDir, store } = await cloudDir(dir);
    await makeBackup({ dataDir, out: `${dir}/bk` });
    await store.createTenant({ name: "After" });
    const before = await fileDigest(`${dataDir}/ca/agent-ca.key`);

    await refusedWith(
      () => restoreBackup({ from: `${dir}/bk`, dataDir }),
      "already holds a cloud (connector.db, connector.db-wal",
    );
    // A node announced itself on it a moment ago and has not said it stopped.
    await store.putNode({
      name: "node-1",
      version: "0.1.0",
      startedAt: Date.now(),
      internal: "",
      settings: {},
    });
    await refusedWith(
      () => restoreBackup({ from: `${dir}/bk`, dataDir, force: true }),
      "a cloud node is running on this data directory (node-1, seen",
    );
    await store.markNodeStopped("node-1");
    await store.close();

    const r = await restoreBackup({ from: `${dir}/bk`, dataDir, force: true });
    assert(r.setAside !== null);
    // The replaced files are set aside whole: the old database (with its WAL) still opens.
    const old = await openDataDir(r.setAside);
    try {
      assertEquals((await old.listTenants()).map((t) => t.name), ["Before", "After"]);
    } finally {
      await old.close();
    }
    assertEquals(await fileDigest(`${r.setAside}/ca/agent-ca.key`), before);
    const now = await openDataDir(dataDir);
    try {
      assertEquals((await now.listTenants()).map((t) => t.name), ["Before"]);
    } finally {
      await now.close();
    }
    const left = [...Deno.readDirSync(dataDir)].map((e) => e.name);
    assert(!left.some((n) => n.startsWith(".restore-")), `staging left: ${left}`);
  });
});
