/**
 * The HTTPS device certificate record on a real (SQLite) store, time from a manual clock: the
 * first fingerprint and each change are audited; a device that presents a new certificate (or
 * alternates two) on every connection gets at most `CHANGES_PER_HOUR` audited changes in an hour,
 * one warning when the rest start being held back, and the next audited change counts them.
 * @module
 */
import assert from "node:assert/strict";
import pino from "pino";
import { ManualClock } from "../../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../../src/cloud/store/sqlite.ts";
import {
  CERTIFICATE_ACTION,
  CHANGES_PER_HOUR,
  deviceCertificateRecorder,
} from "../../../../../src/cloud/access/proxy/device_certificate.ts";
import type { Authorized } from "../../../../../src/cloud/access/route.ts";
import { inTempDir } from "../../../../_fixtures/temp_dir.ts";

const MINUTE = 60_000;

Deno.test("device certificate: changes audited up to the hourly limit, the rest counted into the next entry", () =>
  inTempDir(async (dir) => {
    const clock = new ManualClock(Date.UTC(2026, 11, 7));
    const store = await openSqliteStore({ path: `${dir}/c.db`, clock });
    try {
      const t = await store.createTenant({ name: "Acme" });
      const lines: { level: number; msg: string; unrecorded?: number }[] = [];
      const log = pino({ level: "info" }, { write: (s: string) => void lines.push(JSON.parse(s)) });
      const seen = deviceCertificateRecorder({ store, log, clock });
      const a = {
        handle: { id: "h_cam", tenantId: t.id, port: 443 },
        device: { id: "d_cam", host: "127.0.0.5" },
      } as unknown as Authorized;
      const audit = async () =>
        (await store.listAudit({ tenantId: t.id, action: CERTIFICATE_ACTION, limit: 1000 }))
          .reverse().map((e) => e.detail);

      await seen(a, "CN=cam", "aa");
      await seen(a, "CN=cam", "aa");
      assert.deepEqual((await audit()).map((e) => e.event), ["first_seen"]);

      // A device alternating two certificates on every connection, 100 times in 50 minutes.
      for (let i = 0; i < 100; i++) {
        clock.advance(MINUTE / 2);
        await seen(a, "CN=cam", i % 2 ? "aa" : "bb");
      }
      let entries = await audit();
      assert.equal(entries.length, 1 + CHANGES_PER_HOUR);
      assert.deepEqual(
        entries.slice(1).map((e) => [e.event, e.previous, e.fingerprint]),
        Array.from(
          { length: CHANGES_PER_HOUR },
          (_, i) => ["changed", i % 2 ? "bb" : "aa", i % 2 ? "aa" : "bb"],
        ),
      );
      assert.ok(entries.every((e) => e.unrecorded === undefined));
      const held = lines.filter((l) => /keeps changing/.test(l.msg));
      assert.equal(held.length, 1, "one warning when changes start being held back");
      assert.equal(held[0].level, 40);

      // An hour after the first audited change there is room again: the next change says how
      // many went unrecorded before it.
      clock.advance(15 * MINUTE);
      await seen(a, "CN=other", "cc");
      entries = await audit();
      assert.equal(entries.length, 2 + CHANGES_PER_HOUR);
      assert.deepEqual(
        [entries.at(-1)!.event, entries.at(-1)!.previous, entries.at(-1)!.unrecorded],
        ["changed", "aa", 100 - CHANGES_PER_HOUR],
      );

      // Another node (a fresh recorder) starts from the audit log: the current certificate is
      // nothing new, a different one is a change.
      const sibling = deviceCertificateRecorder({ store, log, clock });
      await sibling(a, "CN=other", "cc");
      assert.equal((await audit()).length, 2 + CHANGES_PER_HOUR);
      await sibling(a, "CN=cam", "aa");
      entries = await audit();
      assert.deepEqual([entries.at(-1)!.event, entries.at(-1)!.previous], ["changed", "cc"]);
    } finally {
      await store.close();
    }
  }));
