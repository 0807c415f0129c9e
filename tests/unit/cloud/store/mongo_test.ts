/**
 * The MongoDB store against a real MongoDB-compatible server (FerretDB, started once for this
 * file in a temp dir on a free loopback port): the shared conformance suite, each case on a
 * fresh database.
 * @module
 */
import assert from "node:assert/strict";
import { type Db, MongoClient } from "mongodb";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openMongoStore } from "../../../../src/cloud/store/mongo.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";
import { startFerretDb } from "../../../_fixtures/ferretdb.ts";
import { storeConformance } from "./conformance.ts";

const ferret = await startFerretDb();
let n = 0;

/** The server's URL with a database of its own. */
export function freshDbUrl(): string {
  return ferret.url.replace("/nanodems?", `/case${++n}_${Date.now()}?`);
}

const urls = new WeakMap<Store, string>();
storeConformance("mongo", async (clock, sameDatabaseAs) => {
  const url = sameDatabaseAs ? urls.get(sameDatabaseAs)! : freshDbUrl();
  const store = await openMongoStore({ url, clock });
  urls.set(store, url);
  return store;
});

Deno.test("mongo store: indexes are created at start, idempotently, uniqueness in the database", async () => {
  const url = freshDbUrl();
  const clock = new ManualClock();
  const stores = await Promise.all([1, 2, 3].map(() => openMongoStore({ url, clock })));
  try {
    const unique = await raw(url, async (db) => {
      const out: string[] = [];
      for (const coll of ["devices", "users", "api_keys", "licenses"]) {
        for (const ix of await db.collection(coll).listIndexes().toArray()) {
          if (ix.unique) out.push(`${coll}.${ix.name}`);
        }
      }
      return out.sort();
    });
    assert.deepEqual(unique, [
      "api_keys.hash",
      "devices.loopback_ip",
      "devices.loopback_n",
      "devices.serial",
      "licenses.hash",
      "users.email",
    ]);
  } finally {
    for (const s of stores) await s.close();
  }
});

/** Runs `fn` with a raw driver handle on a store's database, as a crash would leave it. */
async function raw<T>(url: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const client = new MongoClient(url);
  try {
    return await fn(client.db(/\/([^/?]+)\?/.exec(url)![1]));
  } finally {
    await client.close();
  }
}

Deno.test("mongo store: what a crash between two steps leaves breaks no invariant", async () => {
  const url = freshDbUrl();
  const clock = new ManualClock();
  const store = await openMongoStore({ url, clock });
  try {
    const t = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: t.id, name: "HQ" });
    const add = (host: string) =>
      store.createDevice({ tenantId: t.id, siteId: site.id, host, ports: [80] });
    const d1 = await add("10.0.0.1");

    // createDevice: crashed after inserting a device without bumping the version (the next
    // change bumps it; the entry is already listed). Its loopback index stays held.
    const d2 = await add("10.0.0.2");
    assert.notEqual(d2.loopbackIp, d1.loopbackIp);
    await raw(url, (db) =>
      db.collection("devices").insertOne({
        _id: "dev-crashed" as never,
        id: "dev-crashed",
        tenantId: t.id,
        siteId: site.id,
        host: "10.0.0.9",
        ports: [80],
        loopbackN: 50,
        loopbackIp: "127.0.0.52",
        serialKey: "none:dev-crashed",
        createdAt: clock.now(),
      }));
    const before = await store.getAllowlist(site.id);
    assert.ok(before.entries.some((e) => e.host === "10.0.0.9"));
    await add("10.0.0.3");
    assert.equal((await store.getAllowlist(site.id)).version, before.version + 1);
    for (let i = 0; i < 20; i++) await add(`10.0.1.${i}`);
    const ips = (await store.listDevices(t.id, site.id)).map((d) => d.loopbackIp);
    assert.equal(new Set(ips).size, ips.length, "no duplicate loopback IP");
    assert.equal(ips.filter((ip) => ip === "127.0.0.52").length, 1, "a held index is never reused");

    // deleteDevice: crashed after removing the handles, before the device: deleting again works.
    await store.createHandle({
      id: "h-crash",
      tenantId: t.id,
      siteId: site.id,
      deviceId: d1.id,
      port: 80,
      agentId: null,
      createdAt: clock.now(),
      expiresAt: null,
      revokedAt: null,
    });
    await raw(url, (db) => db.collection("handles").deleteMany({ deviceId: d1.id }));
    assert.notEqual(await store.getDevice(t.id, d1.id), null);
    assert.equal(await store.deleteDevice(t.id, d1.id), true);
    assert.equal(await store.getDevice(t.id, d1.id), null);

    // consumeEnrollmentToken: crashed after the claim, before the agent: the token stays spent.
    const hash = "5".repeat(64);
    await store.createEnrollmentToken({
      hash,
      tenantId: t.id,
      siteId: site.id,
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    });
    await raw(url, (db) =>
      db.collection("enrollment_tokens").updateOne({ _id: hash as never }, {
        $set: { usedAt: clock.now(), agentId: "agent-never-written" },
      }));
    const again = await store.consumeEnrollmentToken(hash, {
      id: "agent-2",
      hostname: "h",
      version: "1",
      os: "linux",
      certSerial: "02",
    });
    assert.deepEqual(again, { ok: false, reason: "used" });
    assert.deepEqual(await store.listAgents(t.id), [], "no agent from a spent token");
  } finally {
    await store.close();
  }
});

Deno.test("mongo store: a device stored before ports had a protocol reads the default of each port", async () => {
  const url = freshDbUrl();
  const store = await openMongoStore({ url, clock: new ManualClock() });
  try {
    const t = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: t.id, name: "HQ" });
    await raw(url, (db) =>
      db.collection("devices").insertOne({
        _id: "dev-old" as never,
        id: "dev-old",
        tenantId: t.id,
        siteId: site.id,
        host: "10.0.0.9",
        ports: [22, 80, 443, 554, 9000],
        manufacturer: "",
        model: "",
        label: "",
        notes: "",
        loopbackN: 60,
        loopbackIp: "127.0.0.62",
        serialKey: "none:dev-old",
        createdAt: 1,
        updatedAt: 1,
        serial: null,
        claimedAgentId: null,
      }));
    const d = await store.getDevice(t.id, "dev-old");
    assert.deepEqual(d!.protocols, {
      22: "ssh",
      80: "http",
      443: "https",
      554: "rtsp",
      9000: "tcp",
    });
    assert.deepEqual(d!.streamPaths, {});
    assert.equal(d!.firmware, "", "stored before firmware was asked: none known");
    assert.deepEqual((await store.queryDevices(t.id, site.id, {})).devices, [d]);
    const u = await store.updateDevice(t.id, "dev-old", { protocols: { 9000: "http" } });
    assert.deepEqual(u!.protocols, {
      22: "ssh",
      80: "http",
      443: "https",
      554: "rtsp",
      9000: "http",
    });
    assert.deepEqual(await store.getDevice(t.id, "dev-old"), u);
  } finally {
    await store.close();
  }
});

Deno.test("mongo store: events stored before they carried deviceId and siteId get them at the next start, so ?device= and ?site= list them", async () => {
  const url = freshDbUrl();
  const first = await openMongoStore({ url, clock: new ManualClock() });
  let t;
  let site;
  let fresh;
  try {
    t = await first.createTenant({ name: "Acme" });
    site = await first.createSite({ tenantId: t.id, name: "HQ" });
    fresh = await first.appendEvent({
      tenantId: t.id,
      type: "camera.motion",
      subject: { name: "Door", siteId: site.id, deviceId: "dev-new" },
      actor: "system",
      detail: {},
      key: "new",
    });
  } finally {
    await first.close();
  }
  // What the versions before wrote: no deviceId field (the oldest), or deviceId without siteId
  // and the older backfill's record; and no record of this backfill.
  const old = (seq: number, subject: Record<string, unknown>, fields = {}) => ({
    _id: seq as never,
    key: `old-${seq}`,
    tenantId: t.id,
    type: "camera.motion",
    at: 1,
    subject: JSON.stringify(subject),
    actor: "system",
    detail: "{}",
    readAt: null,
    ...fields,
  });
  await raw(url, async (db) => {
    await db.collection("events").insertMany([
      old(-4, { name: "Elsewhere", siteId: "site-other" }, { deviceId: null }),
      old(-3, { name: "Door", siteId: site.id, deviceId: "dev-old" }),
      old(-2, { name: "Agent", siteId: site.id }),
      old(-1, { name: "Door", siteId: site.id, deviceId: "dev-old" }, { deviceId: "dev-old" }),
    ]);
    await db.collection("counters").deleteOne({ _id: "events-subject-ids" as never });
    await db.collection("counters").updateOne(
      { _id: "events-device-ids" as never },
      { $set: { value: 1 } },
      { upsert: true },
    );
  });
  const second = await openMongoStore({ url, clock: new ManualClock() });
  try {
    let listed: number[] = [];
    for (let i = 0; i < 100 && listed.length < 2; i++) {
      listed = (await second.listEvents(t.id, { deviceId: "dev-old" })).map((e) => e.seq);
      if (listed.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(listed, [-1, -3]);
    assert.equal((await second.listEvents(t.id, { deviceId: "dev-new" })).length, 1);
    let bySite: number[] = [];
    for (let i = 0; i < 100 && bySite.length < 4; i++) {
      bySite = (await second.listEvents(t.id, { siteId: site.id })).map((e) => e.seq);
      if (bySite.length < 4) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(
      bySite,
      [fresh!.seq, -1, -2, -3],
      "the new event and the three old ones of the site",
    );
    const docs = await raw(url, (db) => db.collection("events").find({}).toArray());
    assert.ok(docs.every((d) => "deviceId" in d && "siteId" in d), "every event has the fields");
    assert.equal(docs.find((d) => d._id === (-2 as never))!.deviceId, null);
    assert.equal(docs.find((d) => d._id === (-4 as never))!.siteId, "site-other");
  } finally {
    await second.close();
  }
});

Deno.test("mongo store: (stop the server)", async () => {
  await ferret.stop();
});
