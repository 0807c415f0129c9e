// The embedded store's WAL stays bounded under a steady trail of audit appends, in both of its
// checkpoint modes, on real files. Two faults grew it without bound (900 MiB per 30 000 entries):
// an append is an INSERT … RETURNING, and a statement left at its row never reaches the point
// where SQLite calls the WAL hook, so the connection's own checkpoints never ran; and with the
// checkpoint worker, PASSIVE checkpoints copied the frames but the WAL was never rewound while
// commits kept coming, so every commit appended to the file.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { inTempDir } from "../../../_fixtures/temp_dir.ts";
import { DatabaseSync } from "node:sqlite";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";

const ENTRIES = 3_000; // ~17 KiB of WAL each: about 50 MiB if nothing rewinds the WAL

const size = (path: string) => {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
};

async function appendTrail(path: string, background: boolean): Promise<number> {
  const store = await openSqliteStore({
    path,
    // The worker's pass every 20 ms and a rewind at 2 MiB, so the bound below does not depend
    // on how fast this machine appends.
    ...(background ? { backgroundCheckpoints: { everyMs: 20, restartAtBytes: 2 << 20 } } : {}),
  });
  let largest = 0;
  try {
    for (let i = 0; i < ENTRIES; i++) {
      await store.appendAudit({
        tenantId: "t-1",
        actor: "license:l-1",
        action: i % 2 ? "tunnel.close" : "tunnel.open",
        target: `h-${i % 97}`,
        detail: { bytes: i },
      });
      // A busy cloud: bursts of commits with the event loop turning between them.
      if (i % 10 === 9) {
        await new Promise((r) => setTimeout(r, 0));
        largest = Math.max(largest, size(`${path}-wal`));
      }
    }
  } finally {
    await store.close();
  }
  return largest;
}

function count(path: string): number {
  const db = new DatabaseSync(path);
  try {
    return Number(db.prepare("SELECT count(*) AS n FROM audit").get()!.n);
  } finally {
    db.close();
  }
}

Deno.test("sqlite WAL: audit appends alone keep the connection's own checkpoints running", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const largest = await appendTrail(path, false);
    // SQLite checkpoints at 1 000 pages (4 MiB) and then writes the WAL from its start again.
    assert(largest < 6 << 20, `WAL reached ${largest} bytes`);
    assertEquals(count(path), ENTRIES);
  }));

Deno.test("sqlite WAL: with the checkpoint worker, the WAL is rewound once it is large", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/c.db`;
    const largest = await appendTrail(path, true);
    assert(largest > 0, "the WAL was in use");
    // 2 MiB plus what is committed between the worker's passes (~1.5 MiB per 20 ms here).
    assert(largest < 24 << 20, `WAL reached ${largest} bytes`);
    assertEquals(count(path), ENTRIES);
  }));
