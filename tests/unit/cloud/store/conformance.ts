/**
 * The one conformance suite every {@linkcode Store} backend passes, so the embedded SQLite
 * default and the MongoDB backend stay interchangeable. A backend's test file calls
 * {@linkcode storeConformance} with a factory; each case opens a fresh store on a
 * {@linkcode ManualClock} (expiry is tested by moving the clock, never by sleeping) and closes it.
 * @module
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../../../src/shared/clock.ts";
import type { AuditEntry, Handle, Site, Store, Tenant } from "../../../../src/cloud/store/store.ts";
import {
  LIVE_FAILURE_KEEP_MS,
  SNAPSHOT_KEEP_MS,
  SNAPSHOTS_PER_DEVICE,
} from "../../../../src/cloud/store/store.ts";
import { SLOT_LEASE_MS, TerminalSlots } from "../../../../src/cloud/access/terminal/slots.ts";
import { agentListsConformance } from "./conformance_agent_lists.ts";
import { portStatesConformance } from "./conformance_port_states.ts";

/** Two tenants with one site each: the usual starting point of a case. */
interface World {
  a: Tenant;
  b: Tenant;
  siteA: Site;
  siteB: Site;
}

async function world(store: Store): Promise<World> {
  const a = await store.createTenant({ name: "Acme" });
  const b = await store.createTenant({ name: "Bolt" });
  const siteA = await store.createSite({ tenantId: a.id, name: "HQ" });
  const siteB = await store.createSite({ tenantId: b.id, name: "Depot" });
  return { a, b, siteA, siteB };
}

const sortById = <T extends { id: string }>(xs: T[]): string[] => xs.map((x) => x.id).sort();

/**
 * Registers the conformance cases for the backend called `name`. `open` returns a fresh, empty
 * store that reads time from the given clock; given `sameDatabaseAs`, it returns a second store
 * (another connection, as a second cloud node would have) on that store's database instead.
 */
export function storeConformance(
  name: string,
  open: (clock: ManualClock, sameDatabaseAs?: Store) => Promise<Store>,
): void {
  function test(title: string, fn: (store: Store, clock: ManualClock) => Promise<void>): void {
    Deno.test(`${name} store: ${title}`, async () => {
      const clock = new ManualClock();
      const store = await open(clock);
      try {
        await fn(store, clock);
      } finally {
        await store.close();
      }
    });
  }

  agentListsConformance(test);

  /** A case with two stores (two nodes) on one database, both on one clock. */
  function race(title: string, fn: (s1: Store, s2: Store, clock: ManualClock) => Promise<void>) {
    test(`two nodes: ${title}`, async (s1, clock) => {
      const s2 = await open(clock, s1);
      try {
        await fn(s1, s2, clock);
      } finally {
        await s2.close();
      }
    });
  }

  portStatesConformance(test, race);

  /** `n` calls alternating between the two stores, all started at once. */
  const both = <T>(s1: Store, s2: Store, n: number, call: (s: Store, i: number) => Promise<T>) =>
    Promise.all(Array.from({ length: n }, (_, i) => call(i % 2 ? s2 : s1, i)));

  race("acquireLock from many callers: exactly one owner", async (s1, s2, clock) => {
    const won = await both(
      s1,
      s2,
      30,
      (s, i) => s.acquireLock("hourly-rollup", `node-${i}`, 90_000),
    );
    assert.equal(won.filter(Boolean).length, 1, "one winner");
    const owner = `node-${won.indexOf(true)}`;
    const again = await both(
      s1,
      s2,
      30,
      (s, i) => s.acquireLock("hourly-rollup", `node-${i}`, 90_000),
    );
    assert.deepEqual(again.map((w, i) => w ? `node-${i}` : null).filter(Boolean), [owner]);
    clock.advance(90_001); // expired: the next race has one new winner
    const next = await both(s1, s2, 30, (s, i) => s.acquireLock("hourly-rollup", `x-${i}`, 90_000));
    assert.equal(next.filter(Boolean).length, 1);
  });

  race("rate windows: every hit from both nodes counted once; a new window after windowMs", async (
    s1,
    s2,
    clock,
  ) => {
    const counts = await both(s1, s2, 30, (s) => s.hitRateWindow("signin-account:k", 60_000));
    assert.deepEqual(
      counts.slice().sort((a, b) => a - b),
      Array.from({ length: 30 }, (_, i) => i + 1),
      "each hit got its own count",
    );
    assert.equal(await s1.rateWindowHits("signin-account:k", 60_000), 30);
    assert.equal(await s2.rateWindowHits("signin-account:other", 60_000), 0);
    clock.advance(59_999);
    assert.equal(await s2.hitRateWindow("signin-account:k", 60_000), 31, "still the same window");
    clock.advance(1); // the window started 60 s ago: over
    assert.equal(await s1.rateWindowHits("signin-account:k", 60_000), 0);
    const fresh = await both(s1, s2, 10, (s) => s.hitRateWindow("signin-account:k", 60_000));
    assert.deepEqual(fresh.slice().sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    assert.equal(await s2.rateWindowHits("signin-account:k", 60_000), 10);
    // Keys are separate, and the window length is the caller's.
    assert.equal(await s1.hitRateWindow("claim-ip:k", 1_000), 1);
    clock.advance(1_000);
    assert.equal(await s2.hitRateWindow("claim-ip:k", 1_000), 1);
  });

  race(
    "rate windows: hits taken back from both nodes, never below zero, never an ended window",
    async (
      s1,
      s2,
      clock,
    ) => {
      await both(s1, s2, 10, (s) => s.hitRateWindow("signin-ip:k", 60_000));
      await both(s1, s2, 6, (s) => s.unhitRateWindow("signin-ip:k", 60_000));
      assert.equal(await s1.rateWindowHits("signin-ip:k", 60_000), 4, "each taken back once");
      await both(s1, s2, 10, (s) => s.unhitRateWindow("signin-ip:k", 60_000));
      assert.equal(await s2.rateWindowHits("signin-ip:k", 60_000), 0, "not below zero");
      assert.equal(await s1.hitRateWindow("signin-ip:k", 60_000), 1, "the same window counts on");
      await s1.unhitRateWindow("signin-ip:none", 60_000); // no window: nothing happens
      assert.equal(await s2.rateWindowHits("signin-ip:none", 60_000), 0);
      clock.advance(60_000); // ended: taking back touches nothing, the next hit starts a window
      await s2.unhitRateWindow("signin-ip:k", 60_000);
      assert.equal(await s1.hitRateWindow("signin-ip:k", 60_000), 1);
    },
  );

  race(
    "node registry: each node's record, seen by the other; replaced, marked stopped, forgotten",
    async (s1, s2, clock) => {
      assert.deepEqual(await s1.listNodes(), []);
      const settings = { "audit-retention-days": "90", "offline-grace": "60000" };
      const n2 = await s2.putNode({
        name: "node-2",
        version: "0.1.0",
        startedAt: 1_000,
        internal: "10.0.0.3:7443",
        settings,
      });
      assert.equal(n2.seenAt, clock.now());
      await s1.putNode({
        name: "node-1",
        version: "0.1.0",
        startedAt: 500,
        internal: "",
        settings,
      });
      clock.advance(5_000);
      // Announced again, with another setting: the record is replaced, not added.
      await s2.putNode({
        name: "node-2",
        version: "0.1.1",
        startedAt: 4_000,
        internal: "10.0.0.3:7443",
        settings: { ...settings, "audit-retention-days": "off" },
      });
      const seen = await s1.listNodes();
      assert.deepEqual(seen.map((n) => [n.name, n.version, n.startedAt, n.seenAt]), [
        ["node-1", "0.1.0", 500, clock.now() - 5_000],
        ["node-2", "0.1.1", 4_000, clock.now()],
      ]);
      assert.deepEqual(seen[0].settings, settings);
      assert.equal(seen[1].settings["audit-retention-days"], "off");
      assert.equal(seen[1].internal, "10.0.0.3:7443");
      assert.deepEqual(seen.map((n) => n.stoppedAt), [null, null]);
      // A graceful stop is recorded by the store's clock; the next announcement clears it.
      clock.advance(1_000);
      assert.equal(await s1.markNodeStopped("node-2"), true);
      assert.equal(await s1.markNodeStopped("node-9"), false);
      assert.deepEqual((await s2.listNodes()).map((n) => n.stoppedAt), [null, clock.now()]);
      await s2.putNode({
        name: "node-2",
        version: "0.1.1",
        startedAt: clock.now(),
        internal: "10.0.0.3:7443",
        settings,
      });
      assert.deepEqual((await s1.listNodes()).map((n) => n.stoppedAt), [null, null]);
      assert.equal(await s2.deleteNode("node-1"), true);
      assert.equal(await s2.deleteNode("node-1"), false);
      assert.deepEqual((await s1.listNodes()).map((n) => n.name), ["node-2"]);
    },
  );

  race(
    "live failures: one node's camera refusal read by the other; replaced, aged, forgotten",
    async (s1, s2, clock) => {
      const key = "h-cam /Streaming/Channels/101";
      assert.equal(await s2.getLiveFailure(key, 0), null);
      const t0 = clock.now();
      await s1.putLiveFailure({ key, code: "camera_refused", message: "the camera answered 404" });
      assert.deepEqual(await s2.getLiveFailure(key, t0), {
        key,
        code: "camera_refused",
        message: "the camera answered 404",
        at: t0,
      });
      clock.advance(1_000);
      await s2.putLiveFailure({ key, code: "camera_refused", message: "credentials refused" });
      assert.deepEqual(
        await s1.getLiveFailure(key, t0),
        { key, code: "camera_refused", message: "credentials refused", at: t0 + 1_000 },
        "replaced, not added",
      );
      // Older than the caller's memory: not an answer.
      assert.equal(await s1.getLiveFailure(key, t0 + 1_001), null);
      await s1.deleteLiveFailure(key);
      assert.equal(await s2.getLiveFailure(key, 0), null);
      await s1.deleteLiveFailure(key); // forgetting nothing is fine
      // A put drops what is older than LIVE_FAILURE_KEEP_MS (other keys too).
      await s1.putLiveFailure({ key: "old", code: "camera_refused", message: "x" });
      clock.advance(LIVE_FAILURE_KEEP_MS + 1);
      await s2.putLiveFailure({ key: "new", code: "camera_refused", message: "y" });
      assert.equal(await s1.getLiveFailure("old", 0), null);
      assert.equal((await s1.getLiveFailure("new", 0))?.message, "y");
    },
  );

  race(
    "motion status: the watching node's record read by the other; replaced; a newer watcher's kept",
    async (s1, s2) => {
      const { a, siteA } = await world(s1);
      const add = (host: string) =>
        s1.createDevice({ tenantId: a.id, siteId: siteA.id, host, ports: [554] });
      const d1 = await add("192.0.2.71");
      const d2 = await add("192.0.2.72");
      assert.deepEqual(await s2.getMotionStatuses([d1.id, d2.id]), []);
      assert.deepEqual(await s2.getMotionStatuses([]), []);
      const failing = {
        deviceId: d1.id,
        state: "failing" as const,
        error: "the camera wants credentials",
        lastMotionAt: null,
        since: 1_000,
        node: "node-1",
        watch: "w1",
      };
      await s1.putMotionStatus(failing);
      assert.deepEqual(await s2.getMotionStatuses([d1.id, d2.id]), [failing]);
      // Replaced, not added; no error once watching.
      const watching = {
        deviceId: d1.id,
        state: "watching" as const,
        lastMotionAt: 5_000,
        since: 2_000,
        node: "node-2",
        watch: "w2",
      };
      await s2.putMotionStatus(watching);
      assert.deepEqual(await s1.getMotionStatuses([d1.id]), [watching]);
      await s2.putMotionStatus({ ...watching, deviceId: d2.id, watch: "w3" });
      const both = await s1.getMotionStatuses([d2.id, d1.id, "no-such-device"]);
      assert.deepEqual(both.map((m) => m.deviceId).sort(), [d1.id, d2.id].sort());
      // The watcher that wrote it last is the one whose stop forgets it.
      await s1.deleteMotionStatus(d1.id, "w1");
      assert.deepEqual(await s2.getMotionStatuses([d1.id]), [watching], "w2's record stays");
      await s1.deleteMotionStatus(d1.id, "w2");
      assert.deepEqual(await s2.getMotionStatuses([d1.id]), []);
      await s1.deleteMotionStatus(d1.id, "w2"); // forgetting nothing is fine
      // Deleting the device forgets its status.
      assert.equal(await s2.deleteDevice(a.id, d2.id), true);
      assert.deepEqual(await s1.getMotionStatuses([d2.id]), []);
    },
  );

  race(
    "event snapshots: kept per tenant, the device's newest only, a week at most; gone with the device",
    async (s1, s2, clock) => {
      const { a, b, siteA } = await world(s1);
      const cam = await s1.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.81",
        ports: [554],
      });
      const other = await s1.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.82",
        ports: [554],
      });
      const jpeg = (n: number) => new Uint8Array([0xff, 0xd8, n, 0, 255, 0xff, 0xd9]);
      const put = (s: Store, id: string, deviceId: string, n: number) =>
        s.putEventSnapshot({ id, tenantId: a.id, siteId: siteA.id, deviceId, jpeg: jpeg(n) });
      const t0 = clock.now();
      await put(s1, "snap-0", cam.id, 0);
      assert.deepEqual(await s2.getEventSnapshot(a.id, "snap-0"), {
        id: "snap-0",
        tenantId: a.id,
        siteId: siteA.id,
        deviceId: cam.id,
        at: t0,
        jpeg: jpeg(0),
      });
      // Another tenant's id is no answer.
      assert.equal(await s2.getEventSnapshot(b.id, "snap-0"), null);
      assert.equal(await s2.getEventSnapshot(a.id, "no-such"), null);
      // The device's newest SNAPSHOTS_PER_DEVICE stay; another device's are not counted.
      await put(s2, "keep-other", other.id, 1);
      for (let i = 1; i <= SNAPSHOTS_PER_DEVICE; i++) {
        clock.advance(1_000);
        await put(i % 2 ? s1 : s2, `snap-${i}`, cam.id, i);
      }
      assert.equal(await s1.getEventSnapshot(a.id, "snap-0"), null, "the oldest dropped");
      assert.deepEqual((await s1.getEventSnapshot(a.id, "snap-1"))?.jpeg, jpeg(1));
      assert.ok(await s1.getEventSnapshot(a.id, `snap-${SNAPSHOTS_PER_DEVICE}`));
      assert.ok(await s1.getEventSnapshot(a.id, "keep-other"));
      // Older than a week: dropped by the next put, whichever device's.
      clock.advance(SNAPSHOT_KEEP_MS - 1_000);
      await put(s2, "late", other.id, 2);
      assert.equal(await s1.getEventSnapshot(a.id, "snap-1"), null);
      assert.equal(await s1.getEventSnapshot(a.id, "keep-other"), null);
      assert.ok(
        await s1.getEventSnapshot(a.id, `snap-${SNAPSHOTS_PER_DEVICE}`),
        "a week to the ms",
      );
      // Deleting the device deletes its pictures.
      assert.equal(await s2.deleteDevice(a.id, other.id), true);
      assert.equal(await s1.getEventSnapshot(a.id, "late"), null);
    },
  );

  race(
    "terminal session slots: the limits hold across nodes; a killed node's slots expire",
    async (s1, s2, clock) => {
      const nodes = [new TerminalSlots(s1), new TerminalSlots(s2)];
      const p = { maxPerUser: 3, maxPerDevice: 2 };
      // 12 sessions of one user on 12 devices at once, half on each node: exactly 3 get a slot.
      const tries = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) => nodes[i % 2].take("t1", "u1", `dev-${i}`, p)),
      );
      const held = tries.flatMap((t) => t.status === "fulfilled" ? [t.value] : []);
      assert.equal(held.length, 3, "three sessions of the user, counted across both nodes");
      for (const t of tries) {
        if (t.status === "rejected") {
          assert.equal(
            (t.reason as Error).message,
            "terminal session limit reached: at most 3 concurrent sessions per user",
          );
        }
      }
      // Another user of the tenant is counted apart; one device takes two sessions, not three.
      const d1 = await nodes[0].take("t1", "u2", "cam", p);
      await nodes[1].take("t1", "u3", "cam", p); // never given back: its node "is killed"
      await assert.rejects(
        () => nodes[0].take("t1", "u4", "cam", p),
        /at most 2 concurrent sessions per device/,
      );
      // A refused device slot gave back the user slot it took first.
      const u4 = await nodes[1].take("t1", "u4", "other", p);
      await u4();
      // Given back on one node, taken on the other.
      await held[0]();
      await held[0]();
      const again = await nodes[1].take("t1", "u1", "dev-x", p);
      await assert.rejects(() => nodes[0].take("t1", "u1", "dev-y", p), /per user/);
      await d1();
      await nodes[0].take("t1", "u5", "cam", p);
      await assert.rejects(() => nodes[0].take("t1", "u6", "cam", p), /per device/);
      // The killed node's slot on "cam" frees once its lease passes (no renewal from a dead node).
      clock.advance(SLOT_LEASE_MS + 1);
      await (await nodes[0].take("t1", "u6", "cam", p))();
      await again();
    },
  );

  race("consumeEnrollmentToken from many callers: one agent", async (s1, s2, clock) => {
    const { a, siteA } = await world(s1);
    const hash = "9".repeat(64);
    await s1.createEnrollmentToken({
      hash,
      tenantId: a.id,
      siteId: siteA.id,
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    });
    const results = await both(s1, s2, 20, (s, i) =>
      s.consumeEnrollmentToken(hash, {
        id: `agent-${i}`,
        hostname: "h",
        version: "1",
        os: "linux",
        certSerial: `${i}`,
      }));
    const ok = results.filter((r) => r.ok);
    assert.equal(ok.length, 1, "exactly one enrollment");
    assert.ok(results.every((r) => r.ok || r.reason === "used"));
    const agents = await s2.listAgents(a.id);
    assert.deepEqual(agents.map((x) => x.id), [ok[0].ok ? ok[0].agent.id : ""]);
    assert.equal((await s2.getEnrollmentToken(hash))?.agentId, agents[0].id);
  });

  race(
    "createDevice from many callers: unique loopback IPs, every bump counted",
    async (s1, s2) => {
      const { a, b, siteA, siteB } = await world(s1);
      const devices = await both(s1, s2, 40, (s, i) =>
        s.createDevice({
          tenantId: i % 4 < 2 ? a.id : b.id,
          siteId: i % 4 < 2 ? siteA.id : siteB.id,
          host: `10.9.0.${i}`,
          ports: [80],
        }));
      const ips = devices.map((d) => d.loopbackIp);
      assert.equal(new Set(ips).size, 40, "no duplicate loopback IP");
      const listed = [
        ...await s2.listDevices(a.id, siteA.id),
        ...await s1.listDevices(b.id, siteB.id),
      ];
      assert.equal(listed.length, 40);
      assert.equal(new Set(listed.map((d) => d.loopbackIp)).size, 40);
      assert.equal((await s1.getAllowlist(siteA.id)).version, 20, "every create bumped once");
      assert.equal((await s2.getAllowlist(siteB.id)).entries.length, 20);
    },
  );

  race(
    "slideCliSession from many callers racing a revoke: revoked stays revoked",
    async (s1, s2, clock) => {
      const { a, siteA } = await world(s1);
      const day = 86_400_000;
      const s = await s1.createCliSession({
        hash: "7".repeat(64),
        tenantId: a.id,
        siteIds: [siteA.id],
        operator: "Ops",
        externalOperatorId: null,
        issuer: "user",
        issuerRef: "u-1",
        expiresAt: clock.now() + day,
        hardCapAt: clock.now() + 3 * day,
      });
      clock.advance(1000);
      const slides = both(s1, s2, 30, (st) => st.slideCliSession(s.hash, 30 * day));
      const revoked = s2.revokeCliSession(a.id, s.hash);
      const [after, wasRevoked] = await Promise.all([slides, revoked]);
      assert.equal(wasRevoked, true);
      assert.ok(after.every((x) => x !== null && x.expiresAt <= s.hardCapAt), "never past the cap");
      const end = await s1.getCliSession(s.hash);
      assert.equal(end?.revokedAt, clock.now(), "no slide undid the revocation");
      assert.ok(end!.expiresAt === s.hardCapAt || end!.expiresAt === s.expiresAt);
      clock.advance(1000);
      const late = await s2.slideCliSession(s.hash, 30 * day);
      assert.equal(late?.lastUsedAt, end?.lastUsedAt, "a revoked session does not slide");
    },
  );

  test("tenants: create, get, list", async (store, clock) => {
    assert.deepEqual(await store.listTenants(), []);
    const a = await store.createTenant({ name: "Acme" });
    clock.advance(10);
    const b = await store.createTenant({ name: "Bolt" });
    assert.match(a.id, /^t-[A-Za-z0-9_-]{16}$/);
    assert.notEqual(a.id, b.id);
    assert.deepEqual(a, { id: a.id, name: "Acme", createdAt: clock.now() - 10 });
    assert.deepEqual(await store.getTenant(a.id), a);
    assert.deepEqual(await store.getTenant(b.id), b);
    assert.equal(await store.getTenant("t-missing"), null);
    assert.deepEqual(sortById(await store.listTenants()), sortById([a, b]));
  });

  test("sites: create, tenant-scoped get, unscoped get, list, bump", async (store, clock) => {
    const { a, b, siteA, siteB } = await world(store);
    assert.match(siteA.id, /^site-[A-Za-z0-9_-]{16}$/);
    assert.deepEqual(siteA, {
      id: siteA.id,
      tenantId: a.id,
      name: "HQ",
      allowlistVersion: 0,
      createdAt: clock.now(),
      alertsPausedUntil: null,
      alertsPausedBy: null,
    });
    assert.deepEqual(await store.getSite(a.id, siteA.id), siteA);
    assert.equal(await store.getSite(b.id, siteA.id), null, "another tenant's site is null");
    assert.equal(await store.getSite(a.id, "site-missing"), null);
    assert.deepEqual(await store.getSiteById(siteB.id), siteB);
    assert.equal(await store.getSiteById("site-missing"), null);

    const siteA2 = await store.createSite({ tenantId: a.id, name: "Annex" });
    assert.deepEqual(sortById(await store.listSites(a.id)), sortById([siteA, siteA2]));
    assert.deepEqual(sortById(await store.listSites(b.id)), [siteB.id]);
    assert.deepEqual(await store.listSites("t-missing"), []);

    assert.equal(await store.bumpAllowlistVersion(siteA.id), 1);
    assert.equal(await store.bumpAllowlistVersion(siteA.id), 2);
    assert.equal((await store.getSiteById(siteA.id))!.allowlistVersion, 2);
    assert.equal((await store.getSiteById(siteB.id))!.allowlistVersion, 0, "other site untouched");
  });

  test("devices: create with defaults, normalized ports, get, list", async (store, clock) => {
    const { a, b, siteA, siteB } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.20",
      ports: [554, 80, 554, 8000, 80],
    });
    assert.match(d.id, /^dev-[A-Za-z0-9_-]{16}$/);
    assert.deepEqual(d, {
      id: d.id,
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.20",
      ports: [80, 554, 8000],
      protocols: { 80: "http", 554: "rtsp", 8000: "tcp" },
      streamPaths: {},
      subStreamPaths: {},
      motionAlerts: false,
      alertQuietSeconds: 60,
      alertsSnoozedUntil: null,
      liveSound: true,
      manufacturer: "",
      model: "",
      firmware: "",
      label: "",
      notes: "",
      loopbackIp: d.loopbackIp,
      createdAt: clock.now(),
      updatedAt: clock.now(),
      serial: null,
      claimedAgentId: null,
    });
    const full = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "cam-2.lan",
      ports: [443],
      manufacturer: "Hikvision",
      model: "DS-2CD2143",
      label: "Gate",
      notes: "north side",
    });
    assert.equal(full.manufacturer, "Hikvision");
    assert.equal(full.model, "DS-2CD2143");
    assert.equal(full.label, "Gate");
    assert.equal(full.notes, "north side");
    const other = await store.createDevice({
      tenantId: b.id,
      siteId: siteB.id,
      host: "192.0.2.20",
      ports: [80],
    });

    assert.deepEqual(await store.getDevice(a.id, d.id), d);
    assert.equal(await store.getDevice(b.id, d.id), null, "another tenant's device is null");
    assert.equal(await store.getDevice(a.id, "dev-missing"), null);
    assert.deepEqual(sortById(await store.listDevices(a.id, siteA.id)), sortById([d, full]));
    assert.deepEqual(sortById(await store.listDevices(b.id, siteB.id)), [other.id]);
    assert.deepEqual(await store.listDevices(b.id, siteA.id), [], "list is tenant-scoped");
    assert.deepEqual(await store.getDeviceByLoopback(a.id, d.loopbackIp), d);
    assert.equal(
      await store.getDeviceByLoopback(b.id, d.loopbackIp),
      null,
      "by loopback is tenant-scoped",
    );
    assert.equal(await store.getDeviceByLoopback(a.id, "127.255.255.254"), null);
  });

  test("devices: create in an unknown or another tenant's site fails and writes nothing", async (store) => {
    const { a, b, siteA, siteB } = await world(store);
    await assert.rejects(
      store.createDevice({ tenantId: a.id, siteId: "site-missing", host: "h", ports: [80] }),
    );
    await assert.rejects(
      store.createDevice({ tenantId: b.id, siteId: siteA.id, host: "h", ports: [80] }),
    );
    assert.deepEqual(await store.listDevices(a.id, siteA.id), []);
    assert.deepEqual(await store.listDevices(b.id, siteA.id), []);
    assert.equal((await store.getSiteById(siteA.id))!.allowlistVersion, 0);
    assert.equal((await store.getSiteById(siteB.id))!.allowlistVersion, 0);
  });

  test("devices: update and delete, tenant-scoped", async (store, clock) => {
    const { a, b, siteA } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.20",
      ports: [80],
      label: "Old",
    });
    clock.advance(1000);
    const u = await store.updateDevice(a.id, d.id, { label: "New", ports: [8080, 80, 8080] });
    assert.deepEqual(u, {
      ...d,
      label: "New",
      ports: [80, 8080],
      protocols: { 80: "http", 8080: "http" },
      updatedAt: d.createdAt + 1000,
    });
    assert.deepEqual(await store.getDevice(a.id, d.id), u);
    assert.equal(u!.loopbackIp, d.loopbackIp, "an update keeps the loopback IP");

    assert.equal(await store.updateDevice(b.id, d.id, { label: "Hijack" }), null);
    assert.equal(await store.updateDevice(a.id, "dev-missing", { label: "x" }), null);
    assert.deepEqual(await store.getDevice(a.id, d.id), u, "a refused update changes nothing");

    assert.equal(await store.deleteDevice(b.id, d.id), false, "another tenant cannot delete");
    assert.deepEqual(await store.getDevice(a.id, d.id), u);
    assert.equal(await store.deleteDevice(a.id, d.id), true);
    assert.equal(await store.getDevice(a.id, d.id), null);
    assert.equal(await store.deleteDevice(a.id, d.id), false, "already gone");
    assert.deepEqual(await store.listDevices(a.id, siteA.id), []);
  });

  test("devices: each port's protocol chosen at add (default from the number), kept and edited", async (store) => {
    const { a, siteA } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.30",
      ports: [9000, 554, 80, 22, 443, 7],
      protocols: { 9000: "http" },
    });
    const expected = { 7: "tcp", 22: "ssh", 80: "http", 443: "https", 554: "rtsp", 9000: "http" };
    assert.deepEqual(d.protocols, expected);
    assert.deepEqual(d.streamPaths, {});
    assert.deepEqual((await store.getDevice(a.id, d.id))!.protocols, expected);
    assert.deepEqual((await store.listDevices(a.id, siteA.id))[0].protocols, expected);

    // Editing one port's protocol keeps the others; a stream path is remembered per port.
    const u = await store.updateDevice(a.id, d.id, {
      protocols: { 554: "tcp", 7: "rtsp" },
      streamPaths: { 7: "/live/main" },
    });
    assert.deepEqual(u!.protocols, { ...expected, 554: "tcp", 7: "rtsp" });
    assert.deepEqual(u!.streamPaths, { 7: "/live/main" });
    assert.deepEqual(await store.getDevice(a.id, d.id), u);

    // Changing the ports: a kept port keeps its protocol and path, a new one gets its default,
    // a removed one takes its protocol and path with it.
    const v = await store.updateDevice(a.id, d.id, { ports: [7, 8554] });
    assert.deepEqual(v!.protocols, { 7: "rtsp", 8554: "rtsp" });
    assert.deepEqual(v!.streamPaths, { 7: "/live/main" });
    const w = await store.updateDevice(a.id, d.id, { ports: [8554], streamPaths: { 8554: "/a" } });
    assert.deepEqual(w!.streamPaths, { 8554: "/a" });
    const x = await store.updateDevice(a.id, d.id, { streamPaths: { 8554: "" } });
    assert.deepEqual(x!.streamPaths, {}, "an empty path forgets it");
    assert.deepEqual(await store.getDevice(a.id, d.id), x);
  });

  test("devices: a camera's sub-stream path is remembered per port beside the main one", async (store) => {
    const { a, siteA } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.31",
      ports: [80, 554],
    });
    assert.deepEqual(d.subStreamPaths, {});
    const u = await store.updateDevice(a.id, d.id, {
      streamPaths: { 554: "/Streaming/Channels/101" },
      subStreamPaths: { 554: "/Streaming/Channels/102" },
    });
    assert.deepEqual(u!.streamPaths, { 554: "/Streaming/Channels/101" });
    assert.deepEqual(u!.subStreamPaths, { 554: "/Streaming/Channels/102" });
    assert.deepEqual(await store.getDevice(a.id, d.id), u);
    assert.deepEqual((await store.listDevices(a.id, siteA.id))[0].subStreamPaths, {
      554: "/Streaming/Channels/102",
    });
    const page = await store.queryDevices(a.id, siteA.id, {});
    assert.deepEqual(page.devices[0].subStreamPaths, { 554: "/Streaming/Channels/102" });
    // Changing the main path or another field keeps it; an empty one forgets only it.
    const v = await store.updateDevice(a.id, d.id, {
      streamPaths: { 554: "/main" },
      label: "Gate",
    });
    assert.deepEqual(v!.subStreamPaths, { 554: "/Streaming/Channels/102" });
    const w = await store.updateDevice(a.id, d.id, { subStreamPaths: { 554: "" } });
    assert.deepEqual([w!.streamPaths, w!.subStreamPaths], [{ 554: "/main" }, {}]);
    // A removed port takes it with it.
    await store.updateDevice(a.id, d.id, { subStreamPaths: { 554: "/sub" } });
    const x = await store.updateDevice(a.id, d.id, { ports: [80] });
    assert.deepEqual(x!.subStreamPaths, {});
    assert.deepEqual(await store.getDevice(a.id, d.id), x);
  });

  test("devices: motion alerts per device; every tenant's devices that have them on, oldest first", async (store) => {
    const { a, b, siteA, siteB } = await world(store);
    const add = (tenantId: string, siteId: string, host: string) =>
      store.createDevice({ tenantId, siteId, host, ports: [80, 554] });
    const d1 = await add(a.id, siteA.id, "192.0.2.41");
    const d2 = await add(b.id, siteB.id, "192.0.2.42");
    const d3 = await add(a.id, siteA.id, "192.0.2.43");
    assert.deepEqual(d1.motionAlerts, false);
    assert.deepEqual(await store.listMotionAlertDevices(10), []);
    const on = await store.updateDevice(a.id, d1.id, { motionAlerts: true });
    assert.deepEqual(on!.motionAlerts, true);
    assert.deepEqual((await store.getDevice(a.id, d1.id))!.motionAlerts, true);
    await store.updateDevice(b.id, d2.id, { motionAlerts: true });
    await store.updateDevice(a.id, d3.id, { motionAlerts: true });
    // Another change keeps it; another tenant's id does not reach it.
    assert.deepEqual(
      (await store.updateDevice(a.id, d1.id, { label: "Gate" }))!.motionAlerts,
      true,
    );
    assert.deepEqual(await store.updateDevice(b.id, d1.id, { motionAlerts: false }), null);
    const ids = async (n: number) => (await store.listMotionAlertDevices(n)).map((d) => d.id);
    assert.deepEqual(await ids(10), [d1.id, d2.id, d3.id]);
    assert.deepEqual(await ids(2), [d1.id, d2.id]);
    assert.deepEqual(await ids(0), []);
    assert.deepEqual((await store.listMotionAlertDevices(10))[0].label, "Gate");
    await store.updateDevice(b.id, d2.id, { motionAlerts: false });
    assert.deepEqual(await ids(10), [d1.id, d3.id]);
    await store.deleteDevice(a.id, d1.id);
    assert.deepEqual(await ids(10), [d3.id]);
  });

  test("devices: a camera's sound is played until an admin turns it off, kept by other changes", async (store) => {
    const { a, b, siteA } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.45",
      ports: [554],
    });
    assert.equal(d.liveSound, true);
    assert.equal((await store.updateDevice(a.id, d.id, { liveSound: false }))!.liveSound, false);
    await store.updateDevice(a.id, d.id, { label: "Break room", alertQuietSeconds: 120 });
    assert.equal((await store.getDevice(a.id, d.id))!.liveSound, false);
    // Another tenant cannot turn it back on.
    assert.equal(await store.updateDevice(b.id, d.id, { liveSound: true }), null);
    assert.equal((await store.getDevice(a.id, d.id))!.liveSound, false);
    assert.equal((await store.updateDevice(a.id, d.id, { liveSound: true }))!.liveSound, true);
    assert.equal((await store.getDevice(a.id, d.id))!.liveSound, true);
  });

  test("devices: a camera's quiet period after an alert is a minute, set per device, kept by other changes", async (store) => {
    const { a, b, siteA } = await world(store);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.44",
      ports: [554],
    });
    assert.equal(d.alertQuietSeconds, 60);
    assert.equal(
      (await store.updateDevice(a.id, d.id, { alertQuietSeconds: 900 }))!.alertQuietSeconds,
      900,
    );
    assert.equal((await store.getDevice(a.id, d.id))!.alertQuietSeconds, 900);
    await store.updateDevice(a.id, d.id, { motionAlerts: true, label: "Vault" });
    assert.equal((await store.listMotionAlertDevices(10))[0].alertQuietSeconds, 900);
    assert.equal(
      (await store.updateDevice(a.id, d.id, { alertQuietSeconds: 0 }))!.alertQuietSeconds,
      0,
    );
    assert.equal((await store.getDevice(a.id, d.id))!.alertQuietSeconds, 0);
    assert.equal(await store.updateDevice(b.id, d.id, { alertQuietSeconds: 5 }), null);
    assert.equal((await store.getDevice(a.id, d.id))!.alertQuietSeconds, 0);
  });

  test(
    "devices: alerts snoozed until a time, kept by other changes, cleared; another tenant's untouched",
    async (store, clock) => {
      const { a, b, siteA } = await world(store);
      const d = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.45",
        ports: [554],
      });
      assert.equal(d.alertsSnoozedUntil, null);
      const until = clock.now() + 3_600_000;
      assert.equal(
        (await store.updateDevice(a.id, d.id, { alertsSnoozedUntil: until }))!.alertsSnoozedUntil,
        until,
      );
      await store.updateDevice(a.id, d.id, { label: "Tree cam", motionAlerts: true });
      assert.equal((await store.getDevice(a.id, d.id))!.alertsSnoozedUntil, until);
      // The tenant's snoozed devices: this one (not its unsnoozed sibling), until it is over.
      await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.46",
        ports: [80],
      });
      assert.deepEqual([...await store.snoozedDevices(a.id, clock.now())], [[d.id, until]]);
      assert.deepEqual([...await store.snoozedDevices(b.id, clock.now())], []);
      assert.deepEqual([...await store.snoozedDevices(a.id, until)], [], "over at its end");
      assert.equal(
        (await store.listDevices(a.id, siteA.id)).find((x) => x.id === d.id)!
          .alertsSnoozedUntil,
        until,
      );
      assert.equal(await store.updateDevice(b.id, d.id, { alertsSnoozedUntil: null }), null);
      assert.equal((await store.getDevice(a.id, d.id))!.alertsSnoozedUntil, until);
      assert.equal(
        (await store.updateDevice(a.id, d.id, { alertsSnoozedUntil: null }))!.alertsSnoozedUntil,
        null,
      );
      assert.equal((await store.getDevice(a.id, d.id))!.alertsSnoozedUntil, null);
      assert.deepEqual([...await store.snoozedDevices(a.id, clock.now())], []);
    },
  );

  test("devices: createDevices (bulk add) is all or none, in order, one bump per site", async (store) => {
    const { a, siteA } = await world(store);
    const annex = await store.createSite({ tenantId: a.id, name: "Annex" });
    const at = (host: string, serial?: string) => ({
      tenantId: a.id,
      siteId: siteA.id,
      host,
      ports: [80, 554],
      ...(serial ? { serial } : {}),
    });
    assert.deepEqual(await store.createDevices([]), []);
    const made = await store.createDevices([at("192.0.2.40"), at("192.0.2.41"), at("192.0.2.42")]);
    assert.deepEqual(made.map((d) => d.host), ["192.0.2.40", "192.0.2.41", "192.0.2.42"]);
    assert.equal(new Set(made.map((d) => d.loopbackIp)).size, 3, "three loopback addresses");
    assert.deepEqual(made[1], await store.getDevice(a.id, made[1].id));
    const v = (await store.getAllowlist(siteA.id)).version;
    assert.equal(v, 1, "one bump for the lot");
    // A failure part-way — the third device's serial is taken, an unknown protocol, a site not
    // of that tenant — leaves none of the batch, and the devices before it stay as they were.
    await store.createDevice({ ...at("192.0.2.50", "SN-TAKEN") });
    const before = (await store.listDevices(a.id, siteA.id)).map((d) => d.id).sort();
    for (
      const batch of [
        [at("192.0.2.60"), at("192.0.2.61"), at("192.0.2.62", "SN-TAKEN"), at("192.0.2.63")],
        [at("192.0.2.60"), { ...at("192.0.2.61"), protocols: { 80: "gopher" as never } }],
        [at("192.0.2.60"), { ...at("192.0.2.61"), tenantId: "t-other" }],
      ]
    ) {
      await assert.rejects(store.createDevices(batch));
      assert.deepEqual(
        (await store.listDevices(a.id, siteA.id)).map((d) => d.id).sort(),
        before,
        "nothing of the batch is left",
      );
    }
    const next = await store.createDevices([at("192.0.2.60"), {
      ...at("192.0.2.70"),
      siteId: annex.id,
    }]);
    assert.deepEqual(next.map((d) => d.siteId), [siteA.id, annex.id]);
    assert.deepEqual(
      (await store.listDevices(a.id, annex.id)).map((d) => d.host),
      ["192.0.2.70"],
    );
    assert.equal((await store.getAllowlist(annex.id)).version, 1);
  });

  test("devices: an unknown protocol is refused and writes nothing", async (store) => {
    const { a, siteA } = await world(store);
    await assert.rejects(store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.31",
      ports: [80],
      protocols: { 80: "gopher" as never },
    }));
    assert.deepEqual(await store.listDevices(a.id, siteA.id), []);
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.31",
      ports: [80],
    });
    await assert.rejects(store.updateDevice(a.id, d.id, { protocols: { 80: "ftp" as never } }));
    assert.deepEqual(await store.getDevice(a.id, d.id), d);
  });

  test(
    "devices: a page in the query, searched, counted per site, tenant-scoped",
    async (store, clock) => {
      const { a, b, siteA, siteB } = await world(store);
      const siteA2 = await store.createSite({ tenantId: a.id, name: "Annex" });
      const made = [];
      for (let i = 0; i < 25; i++) {
        made.push(
          await store.createDevice({
            tenantId: a.id,
            siteId: siteA.id,
            host: `192.0.2.${i + 1}`,
            ports: i === 7 ? [80, 8554] : [80],
            label: i === 3 ? "Front_Door 100%" : "",
            model: i === 4 ? "AXIS P1375" : "",
          }),
        );
        clock.advance(1);
      }
      await store.createDevice({
        tenantId: a.id,
        siteId: siteA2.id,
        host: "198.51.100.1",
        ports: [22],
      });
      await store.createDevice({
        tenantId: b.id,
        siteId: siteB.id,
        host: "192.0.2.1",
        ports: [80],
      });

      const p1 = await store.queryDevices(a.id, siteA.id, { limit: 10 });
      assert.equal(p1.total, 25);
      assert.deepEqual(p1.devices, made.slice(0, 10), "oldest first, whole records");
      const p3 = await store.queryDevices(a.id, siteA.id, { offset: 20, limit: 10 });
      assert.deepEqual(p3.devices.map((d) => d.id), made.slice(20).map((d) => d.id));
      assert.equal((await store.queryDevices(a.id, siteA.id, { offset: 99 })).devices.length, 0);
      assert.equal((await store.queryDevices(a.id, siteA.id, {})).devices.length, 25);

      const ids = async (search: string) =>
        (await store.queryDevices(a.id, siteA.id, { search })).devices.map((d) => d.id);
      assert.deepEqual(await ids("192.0.2.25"), [made[24].id], "by host");
      assert.deepEqual(
        await ids("front_door 100%"),
        [made[3].id],
        "by label, case-insensitive, % and _ literal",
      );
      assert.deepEqual(await ids("_"), [made[3].id], "_ is no wildcard");
      assert.deepEqual(await ids("axis"), [made[4].id], "by model");
      // By the firmware a camera gave (the fleet's old ones found).
      const patched = await store.updateDevice(a.id, made[6].id, {
        firmware: "V5.4.5 build 170124",
      });
      assert.equal(patched!.firmware, "V5.4.5 build 170124");
      assert.equal((await store.getDevice(a.id, made[6].id))!.firmware, "V5.4.5 build 170124");
      assert.deepEqual(await ids("v5.4.5"), [made[6].id], "by firmware");
      assert.deepEqual(await ids("8554"), [made[7].id], "by port");
      // By loopback address: a search is a substring, so 127.0.5.2 also finds a 127.0.5.24.
      const nine = made[9];
      const byLoopback = await store.queryDevices(a.id, siteA.id, { search: nine.loopbackIp });
      assert.ok(byLoopback.devices.some((d) => d.id === nine.id), "by loopback address");
      assert.ok(
        byLoopback.devices.every((d) => d.loopbackIp.includes(nine.loopbackIp)),
        "only addresses that hold it",
      );
      assert.deepEqual(await ids("nothing-like-this"), []);
      const searched = await store.queryDevices(a.id, siteA.id, { search: "192.0.2.1", limit: 3 });
      assert.equal(searched.total, 11, "192.0.2.1 and 192.0.2.10-19");
      assert.equal(searched.devices.length, 3);

      assert.deepEqual(await store.queryDevices(b.id, siteA.id, {}), { devices: [], total: 0 });
      assert.deepEqual(await store.countDevicesBySite(a.id), { [siteA.id]: 25, [siteA2.id]: 1 });
      assert.deepEqual(await store.countDevicesBySite(b.id), { [siteB.id]: 1 });
      assert.deepEqual(
        await store.countDevicesBySite(a.id, [siteA2.id, siteB.id, "site-none"]),
        { [siteA2.id]: 1 },
        "only the sites asked for, of this tenant",
      );
      assert.deepEqual(await store.countDevicesBySite(a.id, []), {});
      const ofSites = await store.listDevicesOfSites(a.id, [siteA2.id, siteA.id, siteB.id, "x"]);
      assert.equal(ofSites.length, 26, "both of this tenant's sites, not the other's");
      assert.deepEqual(
        ofSites.map((d) => d.id),
        [...await store.listDevices(a.id, siteA.id), ...await store.listDevices(a.id, siteA2.id)]
          .sort((x, y) => x.createdAt - y.createdAt).map((d) => d.id),
        "oldest first",
      );
      assert.deepEqual(await store.listDevicesOfSites(a.id, []), []);
    },
  );

  test(
    "devices: a page's handles, held credentials and host keys in one call, tenant-scoped",
    async (store, clock) => {
      const { a, b, siteA, siteB } = await world(store);
      const d1 = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "h1",
        ports: [22, 80],
      });
      const d2 = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "h2",
        ports: [80],
      });
      const other = await store.createDevice({
        tenantId: b.id,
        siteId: siteB.id,
        host: "h",
        ports: [80],
      });
      const handle = (
        id: string,
        deviceId: string,
        port: number,
        expiresAt: number | null = null,
      ) =>
        store.createHandle({
          id,
          tenantId: deviceId === other.id ? b.id : a.id,
          siteId: deviceId === other.id ? siteB.id : siteA.id,
          deviceId,
          port,
          agentId: null,
          createdAt: clock.now(),
          expiresAt,
          revokedAt: null,
        });
      await handle("h-1", d1.id, 22);
      clock.advance(1);
      await handle("h-2", d1.id, 80);
      clock.advance(1);
      await handle("h-3", d2.id, 80);
      await handle("h-old", d2.id, 80, clock.now() - 1);
      await handle("h-revoked", d1.id, 80);
      await store.revokeHandle(a.id, "h-revoked");
      await handle("h-b", other.id, 80);
      await store.putDeviceCredentials(a.id, d2.id, "sealed");
      await store.putDeviceCredentials(b.id, other.id, "sealed");
      await store.putSshHostKey({
        tenantId: a.id,
        deviceId: d1.id,
        port: 22,
        algorithm: "ssh-ed25519",
        fingerprint: "SHA256:x",
        pinnedAt: clock.now(),
        offeredAlgorithm: null,
        offeredFingerprint: null,
        offeredAt: null,
      });

      const x = await store.listDeviceExtras(a.id, [d1.id, d2.id, other.id]);
      assert.deepEqual(
        x.handles.map((h) => h.id),
        ["h-3", "h-2", "h-1"],
        "live ones, newest first",
      );
      assert.deepEqual(x.withCredentials, [d2.id]);
      assert.deepEqual(x.hostKeys.map((k) => [k.deviceId, k.port]), [[d1.id, 22]]);
      assert.deepEqual(await store.listDeviceExtras(a.id, []), {
        handles: [],
        withCredentials: [],
        hostKeys: [],
      });
      assert.deepEqual((await store.listDeviceExtras(b.id, [d1.id])).handles, []);
    },
  );

  test("allowlist: version bumps on device create, host/ports change and delete only", async (store) => {
    const { a, siteA, siteB } = await world(store);
    const version = async () => (await store.getAllowlist(siteA.id)).version;
    const versions = [await version()];
    const d = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.5",
      ports: [80],
    });
    versions.push(await version());
    assert.ok(versions[1] > versions[0], "create bumps");
    assert.equal((await store.getSiteById(siteA.id))!.allowlistVersion, versions[1]);

    await store.updateDevice(a.id, d.id, { label: "Lobby" });
    await store.updateDevice(a.id, d.id, { manufacturer: "Axis", model: "P1375", notes: "n" });
    assert.equal(await version(), versions[1], "metadata-only updates do not bump");
    await store.updateDevice(a.id, d.id, { host: "192.0.2.5", ports: [80, 80] });
    assert.equal(await version(), versions[1], "unchanged host and ports do not bump");

    await store.updateDevice(a.id, d.id, { host: "192.0.2.6" });
    versions.push(await version());
    assert.ok(versions[2] > versions[1], "host change bumps");
    await store.updateDevice(a.id, d.id, { ports: [80, 554] });
    versions.push(await version());
    assert.ok(versions[3] > versions[2], "ports change bumps");
    await store.deleteDevice(a.id, d.id);
    versions.push(await version());
    assert.ok(versions[4] > versions[3], "delete bumps");
    const bumped = await store.bumpAllowlistVersion(siteA.id);
    assert.ok(bumped > versions[4], "explicit bump");
    assert.equal(await version(), bumped);

    assert.equal((await store.getAllowlist(siteB.id)).version, 0, "other site untouched");
  });

  test("allowlist: every (host, port) of the site, sorted and deduplicated", async (store) => {
    const { a, b, siteA, siteB } = await world(store);
    assert.deepEqual(await store.getAllowlist(siteA.id), {
      siteId: siteA.id,
      version: 0,
      entries: [],
    });
    await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.9",
      ports: [554, 80],
    });
    await store.createDevice({ tenantId: a.id, siteId: siteA.id, host: "192.0.2.10", ports: [80] });
    await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.9",
      ports: [8000, 80],
    });
    await store.createDevice({ tenantId: a.id, siteId: siteA.id, host: "cam.lan", ports: [443] });
    await store.createDevice({ tenantId: b.id, siteId: siteB.id, host: "10.9.9.9", ports: [22] });
    const list = await store.getAllowlist(siteA.id);
    assert.equal(list.siteId, siteA.id);
    assert.equal(list.version, (await store.getSiteById(siteA.id))!.allowlistVersion);
    assert.deepEqual(list.entries, [
      { host: "192.0.2.10", port: 80 },
      { host: "192.0.2.9", port: 80 },
      { host: "192.0.2.9", port: 554 },
      { host: "192.0.2.9", port: 8000 },
      { host: "cam.lan", port: 443 },
    ]);
    assert.deepEqual((await store.getAllowlist(siteB.id)).entries, [{
      host: "10.9.9.9",
      port: 22,
    }]);
  });

  test("devices: loopback IPs unique cloud-wide, not in sequence, never .0/.255/127.0.0.1", async (store) => {
    const { a, b, siteA, siteB } = await world(store);
    const ips: string[] = [];
    for (let i = 0; i < 300; i++) {
      const [tenantId, siteId] = i % 2 === 0 ? [a.id, siteA.id] : [b.id, siteB.id];
      const d = await store.createDevice({
        tenantId,
        siteId,
        host: `10.0.${i >> 8}.${i & 255}`,
        ports: [80],
      });
      ips.push(d.loopbackIp);
    }
    assert.equal(new Set(ips).size, ips.length, "unique across tenants and sites");
    // Not a counter: consecutive devices do not get consecutive addresses (which would tell a
    // tenant how many devices other tenants added in between).
    const index = (ip: string) => ip.split(".").slice(2).reduce((n, p) => n * 256 + Number(p), 0);
    const steps = ips.slice(1).filter((ip, i) => Math.abs(index(ip) - index(ips[i])) <= 2).length;
    assert.ok(steps < 10, `${steps} of 299 addresses follow the previous one`);
    for (const ip of ips) {
      const m = ip.match(/^127\.0\.(\d{1,3})\.(\d{1,3})$/);
      assert.ok(m, `${ip} is 127.0.X.Y`);
      const [x, y] = [Number(m[1]), Number(m[2])];
      assert.ok(x <= 255 && y >= 1 && y <= 254, `${ip} is not a .0/.255 address`);
      assert.notEqual(ip, "127.0.0.1");
    }
    assert.ok(new Set(ips.map((ip) => ip.split(".")[2])).size > 50, "spread over the range");

    // Deleting and re-creating never yields an address another device still holds.
    const devices = await store.listDevices(a.id, siteA.id);
    await store.deleteDevice(a.id, devices[3].id);
    const fresh = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "x",
      ports: [1],
    });
    const held = [
      ...(await store.listDevices(a.id, siteA.id)),
      ...(await store.listDevices(b.id, siteB.id)),
    ].map((d) => d.loopbackIp);
    assert.equal(new Set(held).size, held.length);
    assert.ok(held.includes(fresh.loopbackIp));
  });

  test(
    "handles: create, get, find live only, revoke scoped, pin, removed with device",
    async (store, clock) => {
      const { a, b, siteA } = await world(store);
      const d = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.20",
        ports: [80, 554],
      });
      const base = {
        tenantId: a.id,
        siteId: siteA.id,
        deviceId: d.id,
        agentId: null,
        revokedAt: null,
      };
      const h80: Handle = {
        ...base,
        id: "h-AAAAAAAAAAAAAAAAAAAAAA",
        port: 80,
        createdAt: clock.now(),
        expiresAt: null,
      };
      assert.deepEqual(await store.createHandle(h80), h80);
      assert.deepEqual(await store.getHandle(h80.id), h80);
      assert.equal(await store.getHandle("h-missing"), null);
      assert.deepEqual(await store.findHandle(d.id, 80), h80);
      assert.equal(await store.findHandle(d.id, 554), null, "no handle for that port yet");
      assert.equal(await store.findHandle("dev-missing", 80), null);

      // A legacy handle with an expiry is found until it expires.
      const legacy: Handle = {
        ...base,
        id: "h-0123456789ab",
        port: 554,
        createdAt: clock.now(),
        expiresAt: clock.now() + 60_000,
      };
      await store.createHandle(legacy);
      assert.deepEqual(await store.findHandle(d.id, 554), legacy);
      clock.advance(60_001);
      assert.equal(await store.findHandle(d.id, 554), null, "expired handles are not found");
      assert.deepEqual(await store.getHandle(legacy.id), legacy, "but still exist for getHandle");

      // Pin.
      assert.equal(await store.pinHandle(h80.id, "agent-1"), true);
      assert.equal((await store.getHandle(h80.id))!.agentId, "agent-1");
      assert.equal(await store.pinHandle(h80.id, "agent-2"), false, "the first pin stays");
      assert.equal((await store.getHandle(h80.id))!.agentId, "agent-1");

      // Revoke: tenant-scoped, then ignored by findHandle.
      assert.equal(await store.revokeHandle(b.id, h80.id), false, "another tenant cannot revoke");
      assert.equal((await store.getHandle(h80.id))!.revokedAt, null);
      assert.deepEqual(await store.findHandle(d.id, 80), { ...h80, agentId: "agent-1" });
      assert.equal(await store.revokeHandle(a.id, h80.id), true);
      assert.equal((await store.getHandle(h80.id))!.revokedAt, clock.now());
      assert.equal(await store.findHandle(d.id, 80), null, "revoked handles are not found");
      assert.equal(await store.revokeHandle(a.id, "h-missing"), false);

      // A new handle for the same (device, port) is the live one.
      const h80b: Handle = { ...h80, id: "h-BBBBBBBBBBBBBBBBBBBBBB", createdAt: clock.now() };
      await store.createHandle(h80b);
      assert.deepEqual(await store.findHandle(d.id, 80), h80b);

      // Deleting the device deletes its handles.
      await store.deleteDevice(a.id, d.id);
      assert.equal(await store.getHandle(h80.id), null);
      assert.equal(await store.getHandle(h80b.id), null);
      assert.equal(await store.getHandle(legacy.id), null);
      assert.equal(await store.findHandle(d.id, 80), null);
    },
  );

  test("enrollment: tokens listed newest first and scoped", async (store, clock) => {
    const { a, b, siteA } = await world(store);
    const t1 = {
      hash: "a".repeat(64),
      tenantId: a.id,
      siteId: siteA.id,
      createdAt: clock.now(),
      expiresAt: clock.now() + 3_600_000,
    };
    clock.advance(1000);
    const t2 = { ...t1, hash: "b".repeat(64), createdAt: clock.now() };
    await store.createEnrollmentToken(t1);
    await store.createEnrollmentToken(t2);
    assert.deepEqual(await store.listEnrollmentTokens(a.id, siteA.id), [
      { ...t2, usedAt: null, agentId: null, keyPin: null },
      { ...t1, usedAt: null, agentId: null, keyPin: null },
    ]);
    assert.deepEqual(await store.listEnrollmentTokens(b.id, siteA.id), []);
    assert.deepEqual(await store.getEnrollmentToken(t1.hash), {
      ...t1,
      usedAt: null,
      agentId: null,
      keyPin: null,
    });
    assert.equal(await store.getEnrollmentToken("c".repeat(64)), null);
  });

  test(
    "agent certificates: recorded on enrollment and renewal, listed by expiry",
    async (store, clock) => {
      const { a, b, siteA, siteB } = await world(store);
      const day = 86_400_000;
      const enrollAt = async (tenantId: string, siteId: string, id: string, notAfter?: number) => {
        const hash = id.padEnd(64, "0").slice(0, 64).replace(/[^0-9a-f]/g, "e");
        await store.createEnrollmentToken({
          hash,
          tenantId,
          siteId,
          createdAt: clock.now(),
          expiresAt: clock.now() + 60_000,
        });
        const r = await store.consumeEnrollmentToken(hash, {
          id,
          hostname: "h",
          version: "1",
          os: "linux",
          certSerial: `s-${id}`,
          ...(notAfter === undefined ? {} : { certNotAfter: notAfter, certCa: "sha256:ca1" }),
        });
        assert.ok(r.ok);
        return r.agent;
      };
      const soon = await enrollAt(a.id, siteA.id, "ag-1soon", clock.now() + 3 * day);
      assert.equal(soon.certNotAfter, clock.now() + 3 * day);
      assert.equal(soon.certCa, "sha256:ca1");
      await enrollAt(b.id, siteB.id, "ag-2late", clock.now() + 30 * day);
      await enrollAt(a.id, siteA.id, "ag-3old");
      assert.equal((await store.getAgent("ag-3old"))!.certNotAfter, null);

      // Soonest first, across tenants; unknown expiries are not listed.
      assert.deepEqual(
        (await store.listAgentsByCertExpiry(Infinity, 10)).map((x) => x.id),
        ["ag-1soon", "ag-2late"],
      );
      assert.deepEqual(
        (await store.listAgentsByCertExpiry(clock.now() + 7 * day, 10)).map((x) => x.id),
        ["ag-1soon"],
      );
      assert.deepEqual((await store.listAgentsByCertExpiry(Infinity, 1)).map((x) => x.id), [
        "ag-1soon",
      ]);

      // A renewal replaces the facts; the old agent's first sight fills them in.
      const renewed = { serial: "s-new", notAfter: clock.now() + 31 * day, ca: "sha256:ca2" };
      assert.equal(await store.recordAgentCert("ag-1soon", renewed), true);
      const got = (await store.getAgent("ag-1soon"))!;
      assert.deepEqual(
        { serial: got.certSerial, notAfter: got.certNotAfter, ca: got.certCa },
        renewed,
      );
      assert.equal(
        await store.recordAgentCert("ag-3old", { serial: "s-3", notAfter: 5, ca: "sha256:ca1" }),
        true,
      );
      assert.deepEqual(
        (await store.listAgentsByCertExpiry(Infinity, 10)).map((x) => x.id),
        ["ag-3old", "ag-2late", "ag-1soon"],
      );

      // Revoked agents neither renew nor count.
      assert.equal(await store.revokeAgent(a.id, "ag-3old"), true);
      assert.equal(
        await store.recordAgentCert("ag-3old", { serial: "s-4", notAfter: 9, ca: "sha256:ca1" }),
        false,
      );
      assert.equal((await store.getAgent("ag-3old"))!.certSerial, "s-3");
      assert.deepEqual(
        (await store.listAgentsByCertExpiry(Infinity, 10)).map((x) => x.id),
        ["ag-2late", "ag-1soon"],
      );
      assert.equal(await store.recordAgentCert("ag-ghost", renewed), false);
    },
  );

  test(
    "enrollment: consume ok, then used / expired / unknown create nothing",
    async (store, clock) => {
      const { a, b, siteA, siteB } = await world(store);
      const agentInfo = (id: string) => ({
        id,
        hostname: "nvr-box",
        version: "1.2.3",
        os: "linux",
        certSerial: "0a1b2c",
      });
      const token = {
        hash: "1".repeat(64),
        tenantId: a.id,
        siteId: siteA.id,
        createdAt: clock.now(),
        expiresAt: clock.now() + 60_000,
      };
      await store.createEnrollmentToken(token);
      clock.advance(5);

      assert.equal((await store.getEnrollmentToken(token.hash))?.keyPin, null, "unused: no key");
      const keyPin = `sha256:${"ab".repeat(32)}`;
      const ok = await store.consumeEnrollmentToken(token.hash, {
        ...agentInfo("agent-ok"),
        keyPin,
      });
      assert.ok(ok.ok);
      assert.deepEqual(ok.agent, {
        ...agentInfo("agent-ok"),
        certNotAfter: null,
        certCa: null,
        tenantId: a.id,
        siteId: siteA.id,
        label: "",
        createdAt: clock.now(),
        revokedAt: null,
      });
      assert.deepEqual(await store.getAgent("agent-ok"), ok.agent);
      assert.equal(await store.renameAgent(b.id, "agent-ok", "X"), false, "another tenant");
      assert.equal(await store.renameAgent(a.id, "agent-ok", "Gate PC"), true);
      assert.deepEqual(await store.getAgent("agent-ok"), { ...ok.agent, label: "Gate PC" });
      assert.equal(await store.renameAgent(a.id, "agent-missing", "X"), false);
      // The key the token was used with stays with the token (the agent's keys change on renewal).
      assert.deepEqual(await store.listEnrollmentTokens(a.id, siteA.id), [
        { ...token, usedAt: clock.now(), agentId: "agent-ok", keyPin },
      ]);

      assert.deepEqual(
        await store.consumeEnrollmentToken(token.hash, {
          ...agentInfo("agent-again"),
          keyPin: `sha256:${"cd".repeat(32)}`,
        }),
        { ok: false, reason: "used" },
      );
      assert.equal(await store.getAgent("agent-again"), null, "a used token creates no agent");
      assert.equal((await store.getEnrollmentToken(token.hash))?.keyPin, keyPin, "kept as it was");

      const short = {
        ...token,
        hash: "2".repeat(64),
        tenantId: b.id,
        siteId: siteB.id,
        expiresAt: clock.now() + 1000,
      };
      await store.createEnrollmentToken(short);
      clock.advance(1001);
      assert.deepEqual(
        await store.consumeEnrollmentToken(short.hash, agentInfo("agent-late")),
        { ok: false, reason: "expired" },
      );
      assert.equal(await store.getAgent("agent-late"), null, "an expired token creates no agent");
      assert.equal((await store.listEnrollmentTokens(b.id, siteB.id))[0].usedAt, null);

      assert.deepEqual(
        await store.consumeEnrollmentToken("f".repeat(64), agentInfo("agent-ghost")),
        { ok: false, reason: "unknown" },
      );
      assert.equal(await store.getAgent("agent-ghost"), null, "an unknown token creates no agent");

      assert.deepEqual(sortById(await store.listAgents(a.id)), ["agent-ok"]);
      assert.deepEqual(await store.listAgents(b.id), []);
    },
  );

  test("agents: list by tenant and site, update info, revoke scoped", async (store, clock) => {
    const { a, b, siteA } = await world(store);
    const siteA2 = await store.createSite({ tenantId: a.id, name: "Annex" });
    const enroll = async (siteId: string, hash: string, id: string) => {
      await store.createEnrollmentToken({
        hash,
        tenantId: a.id,
        siteId,
        createdAt: clock.now(),
        expiresAt: clock.now() + 1000,
      });
      const r = await store.consumeEnrollmentToken(hash, {
        id,
        hostname: "h",
        version: "1",
        os: "linux",
        certSerial: "01",
      });
      assert.ok(r.ok);
      return r.agent;
    };
    const ag1 = await enroll(siteA.id, "1".repeat(64), "agent-1");
    const ag2 = await enroll(siteA2.id, "2".repeat(64), "agent-2");
    assert.deepEqual(sortById(await store.listAgents(a.id)), [ag1.id, ag2.id]);
    assert.deepEqual(sortById(await store.listAgents(a.id, siteA.id)), [ag1.id]);
    assert.deepEqual(sortById(await store.listAgents(a.id, siteA2.id)), [ag2.id]);
    assert.deepEqual(await store.listAgents(b.id), []);
    assert.deepEqual(await store.listAgents(b.id, siteA.id), []);
    assert.equal(await store.getAgent("agent-missing"), null);

    await store.updateAgentInfo(ag1.id, { hostname: "renamed", version: "2.0.0", os: "windows" });
    assert.deepEqual(await store.getAgent(ag1.id), {
      ...ag1,
      hostname: "renamed",
      version: "2.0.0",
      os: "windows",
    });

    clock.advance(50);
    assert.equal(await store.revokeAgent(b.id, ag1.id), false, "another tenant cannot revoke");
    assert.equal((await store.getAgent(ag1.id))!.revokedAt, null);
    assert.equal(await store.revokeAgent(a.id, ag1.id), true);
    assert.equal((await store.getAgent(ag1.id))!.revokedAt, clock.now());
    clock.advance(50);
    assert.equal(await store.revokeAgent(a.id, ag1.id), false, "already revoked");
    assert.equal(
      (await store.getAgent(ag1.id))!.revokedAt,
      clock.now() - 50,
      "first revocation kept",
    );
    assert.equal(await store.revokeAgent(a.id, "agent-missing"), false);
    assert.equal((await store.getAgent(ag2.id))!.revokedAt, null);
  });

  test("users: create, get, email unique and case-insensitive", async (store, clock) => {
    const { a, b } = await world(store);
    const u = await store.createUser({
      tenantId: a.id,
      email: "Alice@Example.COM",
      passwordHash: "$scrypt$n=16384,r=8,p=1$c2FsdA$aGFzaA",
      role: "admin",
    });
    assert.match(u.id, /^u-[A-Za-z0-9_-]{16}$/);
    assert.equal(u.tenantId, a.id);
    assert.equal(u.email.toLowerCase(), "alice@example.com");
    assert.equal(u.passwordHash, "$scrypt$n=16384,r=8,p=1$c2FsdA$aGFzaA");
    assert.equal(u.role, "admin");
    assert.equal(u.createdAt, clock.now());
    assert.equal(u.disabledAt, null);
    assert.deepEqual(await store.getUser(u.id), u);
    assert.equal(await store.getUser("u-missing"), null);
    assert.deepEqual(await store.getUserByEmail("alice@example.com"), u);
    assert.deepEqual(await store.getUserByEmail("ALICE@EXAMPLE.COM"), u);
    assert.equal(await store.getUserByEmail("bob@example.com"), null);

    await assert.rejects(
      store.createUser({
        tenantId: b.id,
        email: "aLiCe@example.com",
        passwordHash: "x",
        role: "viewer",
      }),
      "emails are unique across the cloud, case-insensitively",
    );
    const bob = await store.createUser({
      tenantId: b.id,
      email: "bob@example.com",
      passwordHash: "y",
      role: "viewer",
    });
    assert.notEqual(bob.id, u.id);
    assert.deepEqual(await store.getUserByEmail("Bob@Example.com"), bob);
  });

  test(
    "user invites: one use sets the password and enables; expiry; other links die",
    async (store, clock) => {
      const { a } = await world(store);
      const u = await store.createUser({
        tenantId: a.id,
        email: "inv@example.com",
        passwordHash: "",
        role: "operator",
      });
      await store.updateUser(a.id, u.id, { disabledAt: clock.now() });
      const inv = await store.createUserInvite({
        hash: "a".repeat(64),
        tenantId: a.id,
        userId: u.id,
        expiresAt: clock.now() + 1000,
      });
      assert.deepEqual(inv, {
        hash: "a".repeat(64),
        tenantId: a.id,
        userId: u.id,
        createdAt: clock.now(),
        expiresAt: clock.now() + 1000,
        usedAt: null,
      });
      await store.createUserInvite({
        hash: "b".repeat(64),
        tenantId: a.id,
        userId: u.id,
        expiresAt: clock.now() + 1000,
      });
      assert.deepEqual(await store.getUserInvite("a".repeat(64)), inv);
      clock.advance(10);
      const used = await store.consumeUserInvite("a".repeat(64), "new-hash");
      assert.equal(used!.id, u.id);
      assert.equal(used!.passwordHash, "new-hash");
      assert.equal(used!.disabledAt, null);
      assert.deepEqual(await store.getUser(u.id), used);
      assert.equal((await store.getUserInvite("a".repeat(64)))!.usedAt, clock.now());
      assert.equal(await store.consumeUserInvite("a".repeat(64), "again"), null, "one use");
      assert.equal(
        await store.consumeUserInvite("b".repeat(64), "other"),
        null,
        "the user's other link died",
      );
      await store.createUserInvite({
        hash: "c".repeat(64),
        tenantId: a.id,
        userId: u.id,
        expiresAt: clock.now() + 5,
      });
      clock.advance(5);
      assert.equal(await store.consumeUserInvite("c".repeat(64), "late"), null, "expired");
      assert.equal((await store.getUser(u.id))!.passwordHash, "new-hash", "nothing written");
      assert.equal(await store.getUserInvite("d".repeat(64)), null);
    },
  );

  test("enrollment tokens: revoke ends an unused one now, tenant-scoped", async (store, clock) => {
    const { a, b, siteA } = await world(store);
    const token = {
      hash: "9".repeat(64),
      tenantId: a.id,
      siteId: siteA.id,
      createdAt: clock.now(),
      expiresAt: clock.now() + 60_000,
    };
    await store.createEnrollmentToken(token);
    assert.equal(await store.revokeEnrollmentToken(b.id, token.hash), false, "another tenant");
    clock.advance(10);
    assert.equal(await store.revokeEnrollmentToken(a.id, token.hash), true);
    assert.equal((await store.getEnrollmentToken(token.hash))!.expiresAt, clock.now());
    clock.advance(1);
    assert.equal(await store.revokeEnrollmentToken(a.id, token.hash), false, "already ended");
    const r = await store.consumeEnrollmentToken(token.hash, {
      id: "agent-after-revoke",
      hostname: "h",
      version: "1",
      os: "linux",
      certSerial: "01",
    });
    assert.deepEqual(r, { ok: false, reason: "expired" });
    assert.equal(await store.revokeEnrollmentToken(a.id, "0".repeat(64)), false, "absent");
  });

  test(
    "sites: rename and delete, tenant-scoped; refused while an agent is active",
    async (store, clock) => {
      const { a, b, siteA, siteB } = await world(store);
      const agentInfo = (id: string) => ({
        id,
        hostname: "nvr-box",
        version: "1.2.3",
        os: "linux",
        certSerial: "0a1b2c",
      });
      assert.equal(await store.updateSite(b.id, siteA.id, { name: "X" }), null, "another tenant");
      assert.deepEqual(await store.updateSite(a.id, siteA.id, { name: "Head office" }), {
        ...siteA,
        name: "Head office",
      });
      assert.equal((await store.getSite(a.id, siteA.id))!.name, "Head office");
      const dev = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "10.0.0.1",
        ports: [80],
      });
      await store.createHandle({
        id: "h-site-delete-test-0001",
        tenantId: a.id,
        siteId: siteA.id,
        deviceId: dev.id,
        port: 80,
        agentId: null,
        createdAt: clock.now(),
        expiresAt: null,
        revokedAt: null,
      });
      await store.putDeviceCredentials(a.id, dev.id, "sealed");
      const token = {
        hash: "7".repeat(64),
        tenantId: a.id,
        siteId: siteA.id,
        createdAt: clock.now(),
        expiresAt: clock.now() + 60_000,
      };
      await store.createEnrollmentToken(token);
      const used = await store.consumeEnrollmentToken(token.hash, agentInfo("agent-site-del"));
      assert.ok(used.ok);
      await store.createEnrollmentToken({ ...token, hash: "8".repeat(64) });
      assert.equal(await store.deleteSite(b.id, siteA.id), "not_found", "another tenant's site");
      assert.equal(await store.deleteSite(a.id, siteA.id), "has_agents");
      assert.ok(await store.getDevice(a.id, dev.id), "nothing written while refused");
      assert.ok(await store.revokeAgent(a.id, "agent-site-del"));
      assert.equal(await store.deleteSite(a.id, siteA.id), "deleted");
      assert.equal(await store.getSite(a.id, siteA.id), null);
      assert.equal(await store.getDevice(a.id, dev.id), null);
      assert.equal(await store.getHandle("h-site-delete-test-0001"), null);
      assert.equal(await store.getDeviceCredentials(a.id, dev.id), null);
      assert.equal(await store.getAgent("agent-site-del"), null);
      assert.deepEqual(await store.listEnrollmentTokens(a.id, siteA.id), []);
      assert.equal(await store.deleteSite(a.id, siteA.id), "not_found");
      assert.ok(await store.getSite(b.id, siteB.id), "the other tenant's site stays");
    },
  );

  test(
    "users: list per tenant, update password, role and disabled, tenant-scoped",
    async (store, clock) => {
      const { a, b } = await world(store);
      const u = await store.createUser({
        tenantId: a.id,
        email: "u@example.com",
        passwordHash: "h1",
        role: "viewer",
      });
      clock.advance(5);
      const v = await store.createUser({
        tenantId: a.id,
        email: "v@example.com",
        passwordHash: "",
        role: "admin",
      });
      await store.createUser({
        tenantId: b.id,
        email: "w@example.com",
        passwordHash: "",
        role: "admin",
      });
      assert.deepEqual((await store.listUsers(a.id)).map((x) => x.id), [u.id, v.id]);
      assert.equal((await store.listUsers(b.id)).length, 1);
      assert.equal(
        await store.updateUser(b.id, u.id, { role: "admin" }),
        null,
        "another tenant's user",
      );
      assert.equal(
        (await store.getUser(u.id))!.role,
        "viewer",
        "nothing written for another tenant",
      );
      const changed = await store.updateUser(a.id, u.id, { role: "operator", passwordHash: "h2" });
      assert.deepEqual(changed, { ...u, role: "operator", passwordHash: "h2" });
      assert.deepEqual(await store.getUser(u.id), changed);
      const off = await store.updateUser(a.id, u.id, { disabledAt: clock.now() });
      assert.equal(off!.disabledAt, clock.now());
      assert.equal(off!.role, "operator", "fields not given are kept");
      assert.equal((await store.updateUser(a.id, u.id, { disabledAt: null }))!.disabledAt, null);
      assert.equal(await store.updateUser(a.id, "u-missing", { role: "admin" }), null);
    },
  );

  test(
    "cli sessions: sliding expiry under the hard cap, scoped revoke, cascade by issuer",
    async (store, clock) => {
      const { a, b, siteA } = await world(store);
      const day = 86_400_000;
      const base = {
        tenantId: a.id,
        siteIds: [siteA.id],
        operator: "Ops",
        externalOperatorId: "op-7",
        issuer: "api_key" as const,
        issuerRef: "key-1",
      };
      const s1 = await store.createCliSession({
        ...base,
        hash: "1".repeat(64),
        expiresAt: clock.now() + 30 * day,
        hardCapAt: clock.now() + 180 * day,
      });
      assert.deepEqual(await store.getCliSession(s1.hash), s1);
      assert.equal(s1.lastUsedAt, null);
      clock.advance(10 * day);
      const slid = await store.slideCliSession(s1.hash, 30 * day);
      assert.equal(slid?.expiresAt, clock.now() + 30 * day);
      assert.equal(slid?.lastUsedAt, clock.now());
      for (let t = 30; t <= 150; t += 20) {
        clock.set(s1.createdAt + t * day);
        const next = await store.slideCliSession(s1.hash, 30 * day);
        assert.equal(next?.expiresAt, clock.now() + 30 * day);
      }
      clock.set(s1.createdAt + 170 * day);
      const capped = await store.slideCliSession(s1.hash, 30 * day);
      assert.equal(capped?.expiresAt, s1.hardCapAt, "never past the hard cap");
      clock.set(s1.hardCapAt);
      const dead = await store.slideCliSession(s1.hash, 30 * day);
      assert.equal(dead?.expiresAt, s1.hardCapAt, "an expired session does not slide");

      const s2 = await store.createCliSession({
        ...base,
        hash: "2".repeat(64),
        siteIds: [],
        issuerRef: "key-2",
        expiresAt: clock.now() + day,
        hardCapAt: clock.now() + day,
      });
      assert.deepEqual(
        (await store.listCliSessions(a.id, { siteId: siteA.id })).map((x) => x.hash),
        [s1.hash],
      );
      assert.deepEqual(
        (await store.listCliSessions(a.id, { issuerRef: "key-2" })).map((x) => x.hash),
        [s2.hash],
      );
      assert.deepEqual(await store.listCliSessions(b.id), []);
      assert.equal(
        await store.revokeCliSession(b.id, s2.hash),
        false,
        "another tenant cannot revoke",
      );
      assert.equal(await store.revokeCliSession(a.id, s2.hash), true);
      assert.equal(await store.revokeCliSession(a.id, s2.hash), false);
      assert.equal(await store.revokeCliSessionsByIssuer(b.id, "key-1"), 0);
      assert.equal(await store.revokeCliSessionsByIssuer(a.id, "key-1"), 1);
      assert.notEqual((await store.getCliSession(s1.hash))?.revokedAt, null);
    },
  );

  test("api keys: create, get by hash, list and revoke scoped", async (store) => {
    const { a, b } = await world(store);
    const k = await store.createApiKey({
      tenantId: a.id,
      hash: "9".repeat(64),
      name: "ndis",
      allowedCidr: "198.51.100.0/24",
    });
    assert.deepEqual(await store.getApiKeyByHash(k.hash), k);
    assert.equal(await store.getApiKeyByHash("8".repeat(64)), null);
    assert.deepEqual(sortById(await store.listApiKeys(a.id)), [k.id]);
    assert.deepEqual(await store.listApiKeys(b.id), []);
    assert.equal(await store.revokeApiKey(b.id, k.id), false);
    assert.equal(await store.revokeApiKey(a.id, k.id), true);
    assert.notEqual((await store.getApiKeyByHash(k.hash))?.revokedAt, null);
  });

  test("web sessions: create, get until expiry, delete", async (store, clock) => {
    const { a } = await world(store);
    const u = await store.createUser({
      tenantId: a.id,
      email: "web@x.test",
      passwordHash: "h",
      role: "admin",
    });
    const s = await store.createWebSession({
      hash: "e".repeat(64),
      tenantId: a.id,
      userId: u.id,
      csrfHash: "f".repeat(64),
      expiresAt: clock.now() + 1000,
    });
    assert.deepEqual(s.createdAt, clock.now());
    assert.deepEqual(await store.getWebSession(s.hash), s);
    clock.advance(1000);
    assert.equal(await store.getWebSession(s.hash), null, "expired at expiresAt");
    clock.set(s.createdAt);
    // A superadmin's session can move to another tenant context.
    const { b } = await world(store);
    const root = await store.createUser({
      tenantId: a.id,
      email: "root@x.test",
      passwordHash: "h",
      role: "superadmin",
    });
    const rs = await store.createWebSession({
      hash: "d".repeat(64),
      tenantId: a.id,
      userId: root.id,
      csrfHash: "f".repeat(64),
      expiresAt: clock.now() + 1000,
    });
    assert.equal(await store.setWebSessionTenant(rs.hash, b.id), true);
    assert.equal((await store.getWebSession(rs.hash))?.tenantId, b.id);
    await store.deleteWebSession(s.hash);
    assert.equal(await store.getWebSession(s.hash), null);
  });

  test("api tokens: create, get, list scoped, touch, revoke scoped", async (store, clock) => {
    const { a, b } = await world(store);
    const u = await store.createUser({
      tenantId: a.id,
      email: "a@x.test",
      passwordHash: "h",
      role: "operator",
    });
    const t = await store.createApiToken({
      hash: "c".repeat(64),
      tenantId: a.id,
      userId: u.id,
      name: "ci",
    });
    assert.deepEqual(t, {
      hash: "c".repeat(64),
      tenantId: a.id,
      userId: u.id,
      name: "ci",
      createdAt: clock.now(),
      lastUsedAt: null,
      revokedAt: null,
    });
    assert.deepEqual(await store.getApiToken(t.hash), t);
    assert.equal(await store.getApiToken("0".repeat(64)), null);
    clock.advance(1);
    const t2 = await store.createApiToken({
      hash: "d".repeat(64),
      tenantId: a.id,
      userId: u.id,
      name: "laptop",
    });
    assert.deepEqual((await store.listApiTokens(a.id, u.id)).map((x) => x.hash).sort(), [
      t.hash,
      t2.hash,
    ]);
    assert.deepEqual(await store.listApiTokens(b.id, u.id), []);

    clock.advance(100);
    await store.touchApiToken(t.hash);
    assert.equal((await store.getApiToken(t.hash))!.lastUsedAt, clock.now());
    await store.touchApiToken("0".repeat(64)); // unknown: no-op, no error

    assert.equal(await store.revokeApiToken(b.id, t.hash), false, "another tenant cannot revoke");
    assert.equal((await store.getApiToken(t.hash))!.revokedAt, null);
    assert.equal(await store.revokeApiToken(a.id, t.hash), true);
    assert.equal((await store.getApiToken(t.hash))!.revokedAt, clock.now());
    assert.equal(await store.revokeApiToken(a.id, "0".repeat(64)), false);
    assert.equal((await store.getApiToken(t2.hash))!.revokedAt, null);
  });

  test("licenses: create, get by hash, list scoped, revoke scoped", async (store, clock) => {
    const { a, b } = await world(store);
    const l = await store.createLicense({ tenantId: a.id, hash: "e".repeat(64) });
    assert.match(l.id, /^lic-[A-Za-z0-9_-]{16}$/);
    assert.deepEqual(l, {
      id: l.id,
      tenantId: a.id,
      hash: "e".repeat(64),
      createdAt: clock.now(),
      revokedAt: null,
    });
    assert.deepEqual(await store.getLicenseByHash(l.hash), l);
    assert.equal(await store.getLicenseByHash("0".repeat(64)), null);
    const lb = await store.createLicense({ tenantId: b.id, hash: "9".repeat(64) });
    assert.deepEqual(sortById(await store.listLicenses(a.id)), [l.id]);
    assert.deepEqual(sortById(await store.listLicenses(b.id)), [lb.id]);

    clock.advance(7);
    assert.equal(await store.revokeLicense(b.id, l.id), false, "another tenant cannot revoke");
    assert.equal((await store.getLicenseByHash(l.hash))!.revokedAt, null);
    assert.equal(await store.revokeLicense(a.id, l.id), true);
    assert.equal((await store.getLicenseByHash(l.hash))!.revokedAt, clock.now());
    assert.equal(await store.revokeLicense(a.id, "lic-missing"), false);
  });

  test(
    "purgeAudit: the oldest go, in order, while older than the cutoff; per tenant",
    async (store, clock) => {
      const { a, b } = await world(store);
      const add = (tenantId: string | null, action: string) =>
        store.appendAudit({ tenantId, actor: "system", action, target: "", detail: {} });
      assert.deepEqual(await store.purgeAudit(clock.now() + 1), { entries: 0, byTenant: {} });
      const t0 = clock.now();
      await add(a.id, "e10"); // t0
      clock.advance(10);
      await add(b.id, "e20"); // t0 + 10
      clock.advance(10);
      await add(null, "e30"); // t0 + 20
      clock.advance(-15); // the clock stepped back
      await add(a.id, "e15"); // t0 + 5, after e30 in sequence
      clock.advance(35);
      const last = await add(b.id, "e40"); // t0 + 40
      const actions = async () => (await store.listAudit({})).map((e) => e.action).reverse();

      assert.deepEqual(await store.purgeAudit(t0 + 15), {
        entries: 2,
        byTenant: { [a.id]: 1, [b.id]: 1 },
      });
      assert.deepEqual(await actions(), ["e30", "e15", "e40"]);
      assert.deepEqual(
        await store.purgeAudit(t0 + 15),
        { entries: 0, byTenant: {} },
        "e15 is older but waits behind e30",
      );
      assert.deepEqual(await store.purgeAudit(t0 + 30), {
        entries: 2,
        byTenant: { "": 1, [a.id]: 1 },
      });
      assert.deepEqual(await actions(), ["e40"]);
      const next = await add(a.id, "after");
      assert.ok(next.seq > last.seq, "numbers are never reused");

      // More than a few pages.
      for (let i = 0; i < 1_234; i++) await add(i % 2 ? a.id : b.id, `bulk-${i}`);
      clock.advance(1);
      for (let i = 0; i < 3; i++) await add(a.id, `new-${i}`);
      const r = await store.purgeAudit(clock.now());
      assert.deepEqual(r, { entries: 1_236, byTenant: { [a.id]: 618, [b.id]: 618 } });
      assert.deepEqual(await actions(), ["new-0", "new-1", "new-2"]);
    },
  );

  test("audit: append-only order, filters, pagination, limits", async (store, clock) => {
    const { a, b } = await world(store);
    const appended: AuditEntry[] = [];
    const specs = [
      { tenantId: a.id, actor: "user:u-1", action: "device.create", target: "dev-1" },
      { tenantId: b.id, actor: "user:u-2", action: "device.create", target: "dev-2" },
      { tenantId: a.id, actor: "agent:ag-1", action: "tunnel.open", target: "h-1" },
      { tenantId: null, actor: "system", action: "agent.reject_unregistered_cn", target: "" },
      { tenantId: a.id, actor: "user:u-1", action: "device.delete", target: "dev-1" },
    ];
    for (const [i, s] of specs.entries()) {
      clock.advance(10);
      const e = await store.appendAudit({
        ...s,
        detail: { i, nested: { ok: true, list: [1, "x"] } },
      });
      assert.equal(e.at, clock.now());
      assert.deepEqual(e, {
        ...s,
        seq: e.seq,
        at: e.at,
        detail: { i, nested: { ok: true, list: [1, "x"] } },
      });
      appended.push(e);
    }
    for (let i = 1; i < appended.length; i++) {
      assert.ok(appended[i].seq > appended[i - 1].seq, "seq is monotonic");
    }
    const newestFirst = [...appended].reverse();
    assert.deepEqual(await store.listAudit({}), newestFirst);
    const seqs = async (q: Parameters<Store["listAudit"]>[0]) =>
      (await store.listAudit(q)).map((e) => e.seq);
    const seqOf = (...is: number[]) => is.map((i) => appended[i].seq);

    assert.deepEqual(await seqs({ tenantId: a.id }), seqOf(4, 2, 0));
    assert.deepEqual(await seqs({ tenantId: b.id }), seqOf(1));
    assert.deepEqual(await seqs({ action: "device.create" }), seqOf(1, 0));
    assert.deepEqual(await seqs({ actor: "user:u-1" }), seqOf(4, 0));
    assert.deepEqual(await seqs({ target: "dev-1" }), seqOf(4, 0));
    assert.deepEqual(await seqs({ tenantId: a.id, action: "device.create" }), seqOf(0));
    assert.deepEqual(await seqs({ tenantId: a.id, actor: "user:u-2" }), []);

    // Pagination: walk backwards with the `before` cursor.
    const page1 = await seqs({ limit: 2 });
    assert.deepEqual(page1, seqOf(4, 3));
    const page2 = await seqs({ limit: 2, before: page1[1] });
    assert.deepEqual(page2, seqOf(2, 1));
    const page3 = await seqs({ limit: 2, before: page2[1] });
    assert.deepEqual(page3, seqOf(0));
    assert.deepEqual(await seqs({ limit: 2, before: page3[0] }), []);
    assert.deepEqual(await seqs({ tenantId: a.id, before: appended[4].seq }), seqOf(2, 0));

    // Default limit 100, maximum 1000.
    for (let i = 0; i < 1000; i++) {
      await store.appendAudit({
        tenantId: b.id,
        actor: "system",
        action: "bulk",
        target: "",
        detail: {},
      });
    }
    assert.equal((await store.listAudit({})).length, 100, "default limit");
    assert.equal((await store.listAudit({ limit: 5000 })).length, 1000, "limit is capped");
    assert.equal((await store.listAudit({ action: "bulk", limit: 5000 })).length, 1000);
    assert.equal((await store.listAudit({ limit: 7 })).length, 7);
    assert.deepEqual(
      await seqs({ tenantId: a.id, limit: 1000 }),
      seqOf(4, 2, 0),
      "filter before limit",
    );
  });

  test(
    "presence: put, expiry by clock, list by site, delete only by owning node",
    async (store, clock) => {
      const { a, siteA, siteB } = await world(store);
      const up = {
        agentId: "agent-1",
        tenantId: a.id,
        siteId: siteA.id,
        node: "node-a",
        endpoint: "10.1.0.1:7443",
        activeStreams: 3,
        bytesUp: 1000,
        bytesDown: 2000,
      };
      const p = await store.putPresence(up, 30_000);
      assert.deepEqual(p, {
        ...up,
        lastHeartbeat: clock.now(),
        expiresAt: clock.now() + 30_000,
        dataBlocked: "",
      });
      assert.deepEqual(await store.getPresence("agent-1"), p);
      assert.equal(await store.getPresence("agent-missing"), null);
      const p2 = await store.putPresence({ ...up, agentId: "agent-2", node: "node-b" }, 60_000);
      await store.putPresence({ ...up, agentId: "agent-3", siteId: siteB.id }, 30_000);
      assert.deepEqual(
        (await store.listPresence(siteA.id)).map((x) => x.agentId).sort(),
        ["agent-1", "agent-2"],
      );

      // Renewal moves the expiry and replaces the counters (and what blocks the data channel).
      clock.advance(20_000);
      const blocked = await store.putPresence(
        { ...up, dataBlocked: "cloud:8444: Connection refused" },
        30_000,
      );
      assert.equal((await store.getPresence("agent-1"))?.dataBlocked, blocked.dataBlocked);
      assert.deepEqual(
        (await store.listPresence(siteA.id)).map((x) => x.dataBlocked),
        ["cloud:8444: Connection refused", ""],
      );
      const renewed = await store.putPresence({ ...up, activeStreams: 0, bytesUp: 5 }, 30_000);
      assert.equal(renewed.lastHeartbeat, clock.now());
      assert.equal(renewed.dataBlocked, "");
      assert.deepEqual(await store.getPresence("agent-1"), renewed);

      // Expiry: agent-3 (30 s, not renewed) is gone at +30 s; agent-1 lives to +50 s.
      clock.advance(10_000);
      assert.equal(await store.getPresence("agent-3"), null, "expired presence is ignored");
      assert.deepEqual(await store.listPresence(siteB.id), []);
      assert.deepEqual(await store.getPresence("agent-1"), renewed);
      clock.advance(20_001);
      assert.equal(await store.getPresence("agent-1"), null);
      assert.deepEqual(await store.getPresence("agent-2"), p2, "60 s lease still valid");
      assert.deepEqual((await store.listPresence(siteA.id)).map((x) => x.agentId), ["agent-2"]);

      // A new owner takes over; the old node's delete does not remove the new lease.
      const moved = await store.putPresence({ ...up, node: "node-b" }, 30_000);
      await store.deletePresence("agent-1", "node-a");
      assert.deepEqual(await store.getPresence("agent-1"), moved);
      await store.deletePresence("agent-1", "node-b");
      assert.equal(await store.getPresence("agent-1"), null);
      await store.deletePresence("agent-missing", "node-a"); // no-op
    },
  );

  test(
    "locks: exclusive until expiry, renewable by owner, release by owner only",
    async (store, clock) => {
      assert.equal(await store.acquireLock("sweeper", "A", 10_000), true, "free lock");
      assert.equal(await store.acquireLock("sweeper", "B", 10_000), false, "held by A");
      assert.equal(await store.acquireLock("other", "B", 10_000), true, "locks are independent");

      clock.advance(8_000);
      assert.equal(await store.acquireLock("sweeper", "A", 10_000), true, "A renews");
      clock.advance(8_000); // 16 s after first acquisition, 8 s after renewal
      assert.equal(await store.acquireLock("sweeper", "B", 10_000), false, "renewal extended it");

      await store.releaseLock("sweeper", "B"); // not the owner: no-op
      assert.equal(await store.acquireLock("sweeper", "B", 10_000), false, "still A's");

      clock.advance(2_001); // past A's renewed expiry
      assert.equal(await store.acquireLock("sweeper", "B", 10_000), true, "expired lock is taken");
      assert.equal(await store.acquireLock("sweeper", "A", 10_000), false, "A lost it");

      await store.releaseLock("sweeper", "B");
      assert.equal(await store.acquireLock("sweeper", "A", 10_000), true, "released lock is free");
      await store.releaseLock("missing", "A"); // no-op
    },
  );

  test("counters: atomic under concurrent increments", async (store) => {
    const values = await Promise.all(
      Array.from({ length: 100 }, () => store.incrementCounter("bridge")),
    );
    assert.deepEqual(
      [...values].sort((x, y) => x - y),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
    assert.equal(await store.incrementCounter("bridge", 0), 100);
    assert.equal(await store.incrementCounter("bridge", 5), 105);
    assert.equal(await store.incrementCounter("other"), 1, "counters are independent");
    const byTen = await Promise.all(
      Array.from({ length: 100 }, () => store.incrementCounter("tens", 10)),
    );
    assert.equal(Math.max(...byTen), 1000);
    assert.equal(new Set(byTen).size, 100);
  });

  test(
    "device credentials: sealed value only, tenant-scoped, replaced, removed with the device",
    async (store, clock) => {
      const { a, b, siteA } = await world(store);
      const dev = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.10",
        ports: [554],
      });
      assert.equal(await store.getDeviceCredentials(a.id, dev.id), null);
      assert.equal(
        await store.putDeviceCredentials(b.id, dev.id, "v1.x.y.z"),
        false,
        "other tenant",
      );
      assert.equal(await store.putDeviceCredentials(a.id, "d-missing", "v1.x.y.z"), false);
      assert.equal(await store.getDeviceCredentials(a.id, dev.id), null, "nothing written");
      assert.equal(await store.putDeviceCredentials(a.id, dev.id, "v1.k.iv.one"), true);
      assert.deepEqual(await store.getDeviceCredentials(a.id, dev.id), {
        tenantId: a.id,
        deviceId: dev.id,
        sealed: "v1.k.iv.one",
        updatedAt: clock.now(),
      });
      assert.equal(await store.getDeviceCredentials(b.id, dev.id), null, "scoped by tenant");
      clock.advance(5);
      assert.equal(await store.putDeviceCredentials(a.id, dev.id, "v1.k.iv.two"), true);
      const two = await store.getDeviceCredentials(a.id, dev.id);
      assert.equal(two?.sealed, "v1.k.iv.two");
      assert.equal(two?.updatedAt, clock.now());
      assert.equal(await store.deleteDeviceCredentials(b.id, dev.id), false, "other tenant");
      assert.equal(await store.deleteDeviceCredentials(a.id, dev.id), true);
      assert.equal(await store.deleteDeviceCredentials(a.id, dev.id), false, "already gone");
      assert.equal(await store.putDeviceCredentials(a.id, dev.id, "v1.k.iv.three"), true);
      assert.equal(await store.deleteDevice(a.id, dev.id), true);
      assert.equal(await store.getDeviceCredentials(a.id, dev.id), null, "gone with the device");
    },
  );

  test(
    "ssh host keys: pinned per (device, port), tenant-scoped, replaced, removed with the device",
    async (store, clock) => {
      const { a, b, siteA } = await world(store);
      const dev = await store.createDevice({
        tenantId: a.id,
        siteId: siteA.id,
        host: "192.0.2.20",
        ports: [22, 2222],
      });
      assert.equal(await store.getSshHostKey(a.id, dev.id, 22), null);
      const pin = {
        tenantId: a.id,
        deviceId: dev.id,
        port: 22,
        algorithm: "ssh-ed25519",
        fingerprint: "SHA256:one",
        pinnedAt: clock.now(),
        offeredAlgorithm: null,
        offeredFingerprint: null,
        offeredAt: null,
      };
      assert.equal(await store.putSshHostKey({ ...pin, tenantId: b.id }), false, "other tenant");
      assert.equal(await store.getSshHostKey(a.id, dev.id, 22), null, "nothing written");
      assert.equal(await store.putSshHostKey(pin), true);
      assert.deepEqual(await store.getSshHostKey(a.id, dev.id, 22), pin);
      assert.equal(await store.getSshHostKey(b.id, dev.id, 22), null, "scoped by tenant");
      assert.equal(await store.getSshHostKey(a.id, dev.id, 2222), null, "per port");
      clock.advance(7);
      const offered = {
        ...pin,
        offeredAlgorithm: "ssh-rsa",
        offeredFingerprint: "SHA256:two",
        offeredAt: clock.now(),
      };
      assert.equal(await store.putSshHostKey(offered), true);
      assert.deepEqual(await store.getSshHostKey(a.id, dev.id, 22), offered);
      assert.equal(await store.deleteDevice(a.id, dev.id), true);
      assert.equal(await store.getSshHostKey(a.id, dev.id, 22), null, "gone with the device");
    },
  );

  test("terminal policy: per tenant, replaced", async (store) => {
    const { a, b } = await world(store);
    assert.equal(await store.getTerminalPolicy(a.id), null);
    const p = {
      maxPerUser: 5,
      maxPerDevice: 3,
      idleTimeoutMs: 900_000,
      maxSessionMs: 28_800_000,
      recordInput: false,
      retentionMs: 2_592_000_000,
    };
    await store.putTerminalPolicy(a.id, p);
    assert.deepEqual(await store.getTerminalPolicy(a.id), p);
    assert.equal(await store.getTerminalPolicy(b.id), null);
    await store.putTerminalPolicy(a.id, { ...p, maxPerDevice: 1, recordInput: true });
    assert.deepEqual(await store.getTerminalPolicy(a.id), {
      ...p,
      maxPerDevice: 1,
      recordInput: true,
    });
  });

  test(
    "terminal recordings: stored, tenant-scoped, listed newest first, expired by age",
    async (store, clock) => {
      const { a, b } = await world(store);
      const rec = (id: string, deviceId: string, endedAt: number) => ({
        id,
        tenantId: a.id,
        deviceId,
        port: 22,
        handle: "h-x",
        actor: "user:u-1",
        startedAt: endedAt - 10,
        endedAt,
        endReason: "closed",
        cast: `{"version":2}\n[0.1,"o","${id}"]\n`,
      });
      const t0 = clock.now();
      await store.putRecording(rec("r-1", "d-1", t0));
      await store.putRecording(rec("r-2", "d-2", t0 + 5));
      await store.putRecording(rec("r-3", "d-1", t0 + 9));
      assert.deepEqual(await store.getRecording(a.id, "r-2"), rec("r-2", "d-2", t0 + 5));
      assert.equal(await store.getRecording(b.id, "r-2"), null, "scoped by tenant");
      const { cast: _c, ...info } = rec("r-3", "d-1", t0 + 9);
      const all = await store.listRecordings(a.id);
      assert.deepEqual(all.map((r) => r.id), ["r-3", "r-2", "r-1"]);
      assert.deepEqual(all[0], info, "no cast in listings");
      assert.deepEqual((await store.listRecordings(a.id, { deviceId: "d-1" })).map((r) => r.id), [
        "r-3",
        "r-1",
      ]);
      assert.deepEqual(await store.listRecordings(a.id, { limit: 1 }).then((r) => r.length), 1);
      assert.deepEqual(await store.listRecordings(b.id), []);
      assert.equal(await store.deleteRecordingsBefore(b.id, t0 + 100), 0, "other tenant");
      assert.equal(await store.deleteRecordingsBefore(a.id, t0 + 6), 2);
      assert.deepEqual((await store.listRecordings(a.id)).map((r) => r.id), ["r-3"]);
    },
  );

  test(
    "agent stats: deltas per hour from day totals, rollover and reset, scoped",
    async (store, clock) => {
      const { a, b } = await world(store);
      const HOUR = 3_600_000;
      clock.set(Date.UTC(2026, 10, 23, 10, 15));
      const day = "2026-11-23";
      const rec = (bytesUp: number, bytesDown: number, tunnels: number, d = day) =>
        store.recordAgentCounters({
          agentId: "ag-1",
          tenantId: a.id,
          day: d,
          bytesUp,
          bytesDown,
          tunnels,
        });
      assert.equal(await store.getAgentCounters("ag-1"), null);
      assert.deepEqual(await rec(100, 1000, 2), { bytesUp: 100, bytesDown: 1000, tunnels: 2 });
      assert.deepEqual(await rec(150, 1000, 3), { bytesUp: 50, bytesDown: 0, tunnels: 1 });
      clock.advance(HOUR); // 11:15
      assert.deepEqual(await rec(170, 1500, 3), { bytesUp: 20, bytesDown: 500, tunnels: 0 });
      assert.deepEqual(
        await rec(10, 1600, 3),
        { bytesUp: 10, bytesDown: 100, tunnels: 0 },
        "reset",
      );
      assert.deepEqual(await rec(10, 1600, 3), { bytesUp: 0, bytesDown: 0, tunnels: 0 });
      assert.deepEqual(await rec(5, 5, 5, "2026-11-22"), { bytesUp: 0, bytesDown: 0, tunnels: 0 });
      clock.advance(13 * HOUR); // 00:15 next day
      assert.deepEqual(await rec(7, 8, 1, "2026-11-24"), { bytesUp: 7, bytesDown: 8, tunnels: 1 });
      const last = await store.getAgentCounters("ag-1");
      assert.deepEqual(last, {
        agentId: "ag-1",
        tenantId: a.id,
        day: "2026-11-24",
        bytesUp: 7,
        bytesDown: 8,
        tunnels: 1,
        at: clock.now(),
      });
      const h10 = Date.UTC(2026, 10, 23, 10);
      const rows = await store.listAgentHourlyStats(a.id, "ag-1", h10);
      assert.deepEqual(rows.map((r) => [r.hour, r.bytesUp, r.bytesDown, r.tunnels]), [
        [h10, 150, 1000, 3],
        [h10 + HOUR, 30, 600, 0],
        [Date.UTC(2026, 10, 24, 0), 7, 8, 1],
      ]);
      assert.deepEqual(
        (await store.listAgentHourlyStats(a.id, "ag-1", h10 + HOUR)).map((r) => r.hour),
        [h10 + HOUR, Date.UTC(2026, 10, 24, 0)],
        "since filters by hour",
      );
      assert.deepEqual(await store.listAgentHourlyStats(b.id, "ag-1", 0), [], "tenant-scoped");
    },
  );

  test("claim: serial unique, unknown and claimed refused, agent created in the device's site", async (store) => {
    const { a, siteA } = await world(store);
    const dev = await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.30",
      ports: [80, 554],
      serial: "DS-2CD2143G0-I20240001",
    });
    assert.equal(dev.serial, "DS-2CD2143G0-I20240001");
    assert.equal(dev.claimedAgentId, null);
    await assert.rejects(store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.31",
      ports: [80],
      serial: "DS-2CD2143G0-I20240001",
    }));
    assert.deepEqual(await store.getDeviceBySerial("DS-2CD2143G0-I20240001"), dev);
    assert.equal(await store.getDeviceBySerial("nope"), null);
    const agent = {
      id: "ag-emb",
      hostname: "cam",
      version: "1",
      os: "linux/arm64",
      certSerial: "01",
    };
    assert.deepEqual(await store.claimDevice("nope", agent), { ok: false, reason: "unknown" });
    assert.equal(await store.getAgent("ag-emb"), null, "a refused claim writes nothing");
    const keyPin = `sha256:${"ab".repeat(32)}`;
    const r = await store.claimDevice("DS-2CD2143G0-I20240001", { ...agent, keyPin });
    assert.ok(r.ok);
    assert.equal(r.agent.tenantId, a.id);
    assert.equal(r.agent.siteId, siteA.id);
    assert.equal(r.device.claimedAgentId, "ag-emb");
    assert.deepEqual(await store.getAgent("ag-emb"), r.agent);
    assert.equal("keyPin" in r.agent, false, "the key's pin is kept with the claim only");
    const claimed = await store.getDevice(a.id, dev.id);
    assert.deepEqual(claimed, { ...dev, claimedAgentId: "ag-emb", updatedAt: claimed!.updatedAt });
    assert.deepEqual(await store.getDeviceBySerial("DS-2CD2143G0-I20240001"), claimed);
    // A second claim says by which agent and key the serial was claimed (the repeat's check).
    assert.deepEqual(
      await store.claimDevice("DS-2CD2143G0-I20240001", { ...agent, id: "ag-emb2", keyPin }),
      {
        ok: false,
        reason: "claimed",
        tenantId: a.id,
        deviceId: dev.id,
        agentId: "ag-emb",
        keyPin,
      },
    );
    assert.equal(await store.getAgent("ag-emb2"), null);
    // A claim made without a key's pin reports none.
    await store.createDevice({
      tenantId: a.id,
      siteId: siteA.id,
      host: "192.0.2.32",
      ports: [80],
      serial: "AC1000-2026-000042",
    });
    assert.ok((await store.claimDevice("AC1000-2026-000042", { ...agent, id: "ag-emb3" })).ok);
    const again = await store.claimDevice("AC1000-2026-000042", { ...agent, id: "ag-emb4" });
    assert.ok(!again.ok && again.reason === "claimed");
    assert.equal(again.agentId, "ag-emb3");
    assert.equal(again.keyPin, null);
  });

  test(
    "daily stats: an hour added once, reconciled from hourly, listed scoped",
    async (store, clock) => {
      const { a, b } = await world(store);
      const HOUR = 3_600_000;
      clock.set(Date.UTC(2026, 2, 1, 22, 30));
      const rec = (agentId: string, day: string, up: number, down: number, tunnels: number) =>
        store.recordAgentCounters({
          agentId,
          tenantId: a.id,
          day,
          bytesUp: up,
          bytesDown: down,
          tunnels,
        });
      await rec("ag-1", "2026-03-01", 100, 200, 1);
      await rec("ag-2", "2026-03-01", 5, 6, 1);
      clock.advance(HOUR); // 23:30
      await rec("ag-1", "2026-03-01", 150, 260, 2);
      clock.advance(HOUR); // 00:30 next day
      await rec("ag-1", "2026-03-02", 7, 8, 1);
      const h22 = Date.UTC(2026, 2, 1, 22);
      assert.equal(await store.addHourToDaily(h22), 2, "two agents had traffic at 22:00");
      assert.equal(await store.addHourToDaily(h22 + HOUR), 1);
      assert.equal(await store.addHourToDaily(h22 + 2 * HOUR), 1);
      assert.equal(await store.addHourToDaily(h22 - HOUR), 0, "an empty hour adds nothing");
      const days = async () =>
        (await store.listAgentDailyStats(a.id, "ag-1", "2026-01-01")).map((d) => [
          d.day,
          d.bytesUp,
          d.bytesDown,
          d.tunnels,
        ]);
      assert.deepEqual(await days(), [["2026-03-01", 150, 260, 2], ["2026-03-02", 7, 8, 1]]);
      assert.deepEqual(
        await store.listAgentDailyStats(a.id, "ag-1", "2026-03-02"),
        [{
          agentId: "ag-1",
          tenantId: a.id,
          day: "2026-03-02",
          bytesUp: 7,
          bytesDown: 8,
          tunnels: 1,
        }],
      );
      assert.deepEqual(await store.listAgentDailyStats(b.id, "ag-1", "2026-01-01"), [], "scoped");

      // Adding an hour twice double-counts (the job's lock prevents it); reconciling repairs it.
      await store.addHourToDaily(h22);
      assert.deepEqual((await days())[0], ["2026-03-01", 250, 460, 3]);
      assert.equal(await store.reconcileDailyStats("2026-03-01"), 2);
      assert.equal(await store.reconcileDailyStats("2026-03-01"), 2, "idempotent");
      assert.deepEqual(await days(), [["2026-03-01", 150, 260, 2], ["2026-03-02", 7, 8, 1]]);
      assert.deepEqual(
        (await store.listAgentDailyStats(a.id, "ag-2", "2026-01-01")).map((d) => d.bytesUp),
        [5],
      );
      assert.equal(await store.reconcileDailyStats("2026-02-01"), 0);
    },
  );

  test("purge: exactly what is past retention or expired", async (store, clock) => {
    const { a, siteA } = await world(store);
    const HOUR = 3_600_000;
    const DAY = 24 * HOUR;
    const t0 = Date.UTC(2026, 0, 10, 12);
    clock.set(t0);
    const rec = (day: string, up: number) =>
      store.recordAgentCounters({
        agentId: "ag-1",
        tenantId: a.id,
        day,
        bytesUp: up,
        bytesDown: 0,
        tunnels: 0,
      });
    await rec("2026-01-10", 10); // hour t0
    clock.advance(DAY);
    await rec("2026-01-11", 20); // hour t0 + 1 day
    await store.reconcileDailyStats("2026-01-10");
    await store.reconcileDailyStats("2026-01-11");
    const user = await store.createUser({
      tenantId: a.id,
      email: "p@example.com",
      passwordHash: "x",
      role: "admin",
    });
    const session = (hash: string, expiresAt: number) =>
      store.createWebSession({ hash, tenantId: a.id, userId: user.id, csrfHash: "c", expiresAt });
    const now = clock.now();
    await session("a".repeat(64), now + 1);
    await session("b".repeat(64), now + 2 * HOUR);
    const token = (hash: string, expiresAt: number) =>
      store.createEnrollmentToken({
        hash,
        tenantId: a.id,
        siteId: siteA.id,
        createdAt: now,
        expiresAt,
      });
    await token("1".repeat(64), now + 1);
    await token("2".repeat(64), now + 2 * HOUR);
    await token("3".repeat(64), now + 1);
    await store.consumeEnrollmentToken("3".repeat(64), {
      id: "ag-used",
      hostname: "h",
      version: "1",
      os: "linux",
      certSerial: "01",
    });
    const up = {
      tenantId: a.id,
      siteId: siteA.id,
      endpoint: "",
      activeStreams: 0,
      bytesUp: 0,
      bytesDown: 0,
    };
    await store.putPresence({ ...up, agentId: "p-old", node: "n1" }, 1);
    await store.putPresence({ ...up, agentId: "p-live", node: "n1" }, 2 * HOUR);
    await store.acquireLock("old", "n1", 1);
    await store.acquireLock("live", "n1", 2 * HOUR);
    await store.hitRateWindow("signin-ip:old", 60_000); // ends long before the purge
    await store.hitRateWindow("signin-ip:live", 2 * HOUR);
    const cli = (hash: string, expiresAt: number) =>
      store.createCliSession({
        hash,
        tenantId: a.id,
        siteIds: [siteA.id],
        operator: "Ops",
        externalOperatorId: null,
        issuer: "user",
        issuerRef: user.id,
        expiresAt,
        hardCapAt: expiresAt,
      });
    await cli("c".repeat(64), now + 1); // ends before the cutoff
    await cli("d".repeat(64), now + 2 * HOUR); // revoked before the cutoff
    await store.revokeCliSession(a.id, "d".repeat(64));
    await cli("e".repeat(64), now + 30 * DAY); // live
    clock.advance(HOUR);
    const cliSessionsBefore = now + 10;

    const cutoffs = { hourlyBefore: t0 + HOUR, dailyBefore: "2026-01-11", cliSessionsBefore };
    const counts = await store.purgeExpired(cutoffs);
    assert.deepEqual(counts, {
      hourly: 1,
      daily: 1,
      webSessions: 1,
      cliSessions: 2,
      enrollmentTokens: 1,
      presence: 1,
      locks: 1,
      rateWindows: 1,
    });
    assert.deepEqual(
      (await store.listAgentHourlyStats(a.id, "ag-1", 0)).map((r) => r.hour),
      [t0 + DAY],
    );
    assert.deepEqual(
      (await store.listAgentDailyStats(a.id, "ag-1", "2026-01-01")).map((r) => r.day),
      ["2026-01-11"],
    );
    assert.equal(await store.getWebSession("b".repeat(64)) !== null, true, "live session kept");
    assert.equal(await store.getEnrollmentToken("1".repeat(64)), null, "expired unused token");
    assert.notEqual(await store.getEnrollmentToken("2".repeat(64)), null, "live token kept");
    assert.notEqual(await store.getEnrollmentToken("3".repeat(64)), null, "used token kept");
    assert.notEqual(await store.getPresence("p-live"), null);
    assert.deepEqual((await store.listCliSessions(a.id)).map((x) => x.hash), ["e".repeat(64)]);
    assert.equal(await store.acquireLock("live", "n2", HOUR), false, "live lock kept");
    assert.equal(await store.acquireLock("old", "n2", HOUR), true);
    assert.deepEqual(
      await store.purgeExpired(cutoffs),
      {
        hourly: 0,
        daily: 0,
        webSessions: 0,
        cliSessions: 0,
        enrollmentTokens: 0,
        presence: 0,
        locks: 0,
        rateWindows: 0,
      },
      "nothing left to purge",
    );
  });

  // Reachability, events and webhooks (issue 15 items 5–8)

  const portReport = (w: World, up: boolean, since: number, agentId = "ag-1") => ({
    tenantId: w.a.id,
    siteId: w.siteA.id,
    host: "10.0.0.5",
    port: 554,
    up,
    since,
    error: up ? "" : "connection refused",
    agentId,
  });

  test("recordPortState: a flip is one change; the same state again changes nothing", async (store) => {
    const w = await world(store);
    assert.deepEqual(await store.recordPortState(portReport(w, true, 1)), {
      changed: true,
      previous: null,
    });
    assert.deepEqual(await store.recordPortState(portReport(w, true, 2)), {
      changed: false,
      previous: true,
    });
    assert.deepEqual(await store.recordPortState(portReport(w, false, 3)), {
      changed: true,
      previous: true,
    });
    assert.deepEqual(await store.recordPortState(portReport(w, false, 4, "ag-2")), {
      changed: false,
      previous: false,
    });
    const [s] = await store.getPortStatesOf(w.a.id, w.siteA.id, ["10.0.0.5"]);
    assert.deepEqual(
      [s.up, s.since, s.error, s.agentId],
      [false, 3, "connection refused", "ag-2"],
      "since kept from the flip, reporter refreshed",
    );
    assert.deepEqual(
      await store.getPortStatesOf(w.b.id, w.siteA.id, ["10.0.0.5"]),
      [],
      "tenant-scoped",
    );
  });

  race("recordPortState of one flip from both nodes: exactly one change", async (s1, s2) => {
    const w = await world(s1);
    await s1.recordPortState(portReport(w, true, 1));
    const r = await both(s1, s2, 10, (s, i) => s.recordPortState(portReport(w, false, 10 + i)));
    assert.equal(r.filter((x) => x.changed).length, 1);
  });

  test("agent availability: put replaces, list returns every agent or the ones asked", async (store) => {
    const a = { agentId: "ag-1", tenantId: "t", siteId: "s", online: true, since: 5 };
    await store.putAgentAvailability({ ...a, absentSince: null });
    await store.putAgentAvailability({ ...a, absentSince: 9 });
    await store.putAgentAvailability({ ...a, agentId: "ag-2", online: false, absentSince: null });
    await store.putAgentAvailability({ ...a, agentId: "ag-3", absentSince: null });
    assert.deepEqual(await store.listAgentAvailability(), [
      { ...a, absentSince: 9 },
      { ...a, agentId: "ag-2", online: false, absentSince: null },
      { ...a, agentId: "ag-3", absentSince: null },
    ]);
    assert.deepEqual(await store.listAgentAvailability(["ag-3", "ag-9", "ag-1"]), [
      { ...a, absentSince: 9 },
      { ...a, agentId: "ag-3", absentSince: null },
    ]);
    assert.deepEqual(await store.listAgentAvailability([]), []);
  });

  const newEvent = (tenantId: string, key: string) => ({
    tenantId,
    type: "device.down" as const,
    subject: { name: "Door (10.0.0.5:554)", host: "10.0.0.5", port: 554 },
    actor: "agent:ag-1",
    detail: { error: "connection refused", "a.b": 1 },
    key,
  });

  test(
    "events: appended once per key, listed newest first per tenant, read and unread",
    async (store, clock) => {
      const w = await world(store);
      const e1 = await store.appendEvent(newEvent(w.a.id, "k1"));
      assert.ok(e1);
      assert.equal(e1.at, clock.now());
      assert.equal(await store.appendEvent(newEvent(w.a.id, "k1")), null, "same key: nothing");
      clock.advance(1000);
      const e2 = (await store.appendEvent(newEvent(w.a.id, "k2")))!;
      await store.appendEvent(newEvent(w.b.id, "k3"));
      assert.ok(e2.seq > e1.seq);
      const list = await store.listEvents(w.a.id);
      assert.deepEqual(list.map((e) => e.seq), [e2.seq, e1.seq]);
      assert.deepEqual(list[1], { ...e1, readAt: null });
      assert.deepEqual(list[1].detail, { error: "connection refused", "a.b": 1 });
      assert.deepEqual((await store.listEvents(w.a.id, { before: e2.seq })).map((e) => e.seq), [
        e1.seq,
      ]);
      assert.deepEqual((await store.listEvents(w.a.id, { after: e1.seq })).map((e) => e.seq), [
        e2.seq,
      ]);
      assert.equal((await store.listEvents(w.a.id, { limit: 1 })).length, 1);
      const me = { id: "user:u-1", since: 0 };
      assert.equal(await store.countUnreadEvents(w.a.id, me), 2);
      assert.equal(await store.markEventsRead(w.b.id, me, [e1.seq]), 0, "another tenant's event");
      assert.equal(await store.markEventsRead(w.a.id, me, [e1.seq]), 1);
      assert.equal(await store.markEventsRead(w.a.id, me, [e1.seq]), 0, "read already");
      assert.equal(await store.countUnreadEvents(w.a.id, me), 1);
      assert.deepEqual(
        (await store.listEvents(w.a.id, { reader: me, unread: true })).map((e) => e.seq),
        [e2.seq],
      );
      assert.equal(await store.markEventsRead(w.a.id, me, "all"), 1);
      assert.equal(await store.countUnreadEvents(w.a.id, me), 0);
      assert.equal(await store.countUnreadEvents(w.b.id, me), 1);
      assert.equal((await store.listEvents(w.a.id, { reader: me }))[0].readAt, clock.now());
    },
  );

  test(
    "events: each reader has its own read state; a new one has read what came before it; one mark-all is a single step and a later event stays unread; purged events take their marks",
    async (store, clock) => {
      const w = await world(store);
      const add = async (key: string) => (await store.appendEvent(newEvent(w.a.id, key)))!.seq;
      const e1 = await add("r1");
      clock.advance(1000);
      const e2 = await add("r2");
      const e3 = await add("r3");
      const alice = { id: "user:alice", since: 0 };
      const bob = { id: "user:bob", since: 0 };
      const unread = async (r: typeof alice) =>
        (await store.listEvents(w.a.id, { reader: r, unread: true })).map((e) => e.seq);
      assert.equal(await store.markEventsRead(w.a.id, alice, [e2]), 1);
      assert.deepEqual(await unread(alice), [e3, e1]);
      assert.deepEqual(await unread(bob), [e3, e2, e1], "alice's mark is hers");
      const listed = await store.listEvents(w.a.id, { reader: alice });
      assert.deepEqual(listed.map((e) => e.readAt !== null), [false, true, false]);
      assert.deepEqual(
        (await store.listEvents(w.a.id, { reader: bob })).map((e) => e.readAt),
        [null, null, null],
      );
      assert.equal(await store.markEventsRead(w.a.id, bob, "all"), 3);
      assert.equal(await store.countUnreadEvents(w.a.id, bob), 0);
      assert.equal(await store.countUnreadEvents(w.a.id, alice), 2, "bob's mark-all is his");
      const e4 = await add("r4");
      assert.deepEqual(await unread(bob), [e4], "an event after the mark-all stays unread");
      assert.equal(await store.markEventsRead(w.a.id, bob, "all"), 1);
      assert.equal(await store.markEventsRead(w.a.id, bob, "all"), 0, "nothing new");
      // A user who joined after e1: e1 was before their time, the rest is unread.
      const carol = { id: "user:carol", since: clock.now() - 500 };
      assert.deepEqual(await unread(carol), [e4, e3, e2]);
      assert.equal(await store.countUnreadEvents(w.a.id, carol), 3);
      assert.equal((await store.listEvents(w.a.id, { reader: carol }))[3].readAt, carol.since);
      // Purging the old events takes alice's mark with them: her count stays right.
      assert.equal(await store.markEventsRead(w.a.id, alice, [e1]), 1);
      assert.equal(await store.countUnreadEvents(w.a.id, alice), 2);
      clock.advance(1000);
      await store.purgeEvents(clock.now() - 1500);
      assert.deepEqual((await store.listEvents(w.a.id)).map((e) => e.seq), [e4, e3, e2]);
      assert.deepEqual(await unread(alice), [e4, e3]);
      assert.equal(await store.countUnreadEvents(w.a.id, alice), 2);
    },
  );

  test("events: of some types only, newest first, with the other filters", async (store) => {
    const w = await world(store);
    const add = async (key: string, type: "device.down" | "camera.motion" | "camera.tamper") =>
      (await store.appendEvent({ ...newEvent(w.a.id, key), type }))!.seq;
    const down = await add("t1", "device.down");
    const motion = await add("t2", "camera.motion");
    const tamper = await add("t3", "camera.tamper");
    const motion2 = await add("t4", "camera.motion");
    await store.appendEvent({ ...newEvent(w.b.id, "t5"), type: "camera.motion" });
    const seqs = async (q: Parameters<Store["listEvents"]>[1]) =>
      (await store.listEvents(w.a.id, q)).map((e) => e.seq);
    assert.deepEqual(await seqs({ types: ["camera.motion", "camera.tamper"] }), [
      motion2,
      tamper,
      motion,
    ]);
    assert.deepEqual(await seqs({ types: ["device.down"] }), [down]);
    assert.deepEqual(await seqs({ types: [] }), [], "no type: nothing");
    assert.deepEqual(await seqs({ types: ["camera.motion"], before: motion2 }), [motion]);
    assert.deepEqual(await seqs({ types: ["camera.motion"], limit: 1 }), [motion2]);
    const reader = { id: "user:u-1", since: 0 };
    await store.markEventsRead(w.a.id, reader, [motion2]);
    assert.deepEqual(await seqs({ types: ["camera.motion"], unread: true, reader }), [motion]);
    assert.deepEqual(
      await seqs({ types: ["camera.motion", "device.down"], unread: true, reader }),
      [
        motion,
        down,
      ],
    );
  });

  test("events: about one device only (its subject's deviceId), with the other filters", async (store) => {
    const w = await world(store);
    const add = async (
      key: string,
      deviceId: string | undefined,
      type: "device.down" | "camera.motion",
    ) =>
      (await store.appendEvent({
        ...newEvent(w.a.id, key),
        type,
        subject: { name: "Door", ...(deviceId ? { deviceId } : {}) },
      }))!.seq;
    const d1a = await add("d1", "dev-1", "camera.motion");
    await add("d2", "dev-2", "camera.motion");
    const d1b = await add("d3", "dev-1", "device.down");
    await add("d4", undefined, "device.down");
    await store.appendEvent({
      ...newEvent(w.b.id, "d5"),
      subject: { name: "Door", deviceId: "dev-1" },
    });
    const seqs = async (q: Parameters<Store["listEvents"]>[1]) =>
      (await store.listEvents(w.a.id, q)).map((e) => e.seq);
    assert.deepEqual(await seqs({ deviceId: "dev-1" }), [d1b, d1a], "not another tenant's");
    assert.deepEqual(await seqs({ deviceId: "dev-1", types: ["camera.motion"] }), [d1a]);
    assert.deepEqual(await seqs({ deviceId: "dev-1", limit: 1 }), [d1b]);
    assert.deepEqual(await seqs({ deviceId: "dev-9" }), []);
  });

  test("events: about one site only (its subject's siteId), with the other filters", async (store) => {
    const w = await world(store);
    const add = async (
      key: string,
      subject: { siteId?: string; deviceId?: string },
      type: "agent.offline" | "camera.motion",
    ) =>
      (await store.appendEvent({
        ...newEvent(w.a.id, key),
        type,
        subject: { name: "Door", ...subject },
      }))!.seq;
    const agent = await add("s1", { siteId: w.siteA.id }, "agent.offline");
    await add("s2", { siteId: w.siteB.id, deviceId: "dev-2" }, "camera.motion");
    const motion = await add("s3", { siteId: w.siteA.id, deviceId: "dev-1" }, "camera.motion");
    await add("s4", {}, "agent.offline");
    await store.appendEvent({
      ...newEvent(w.b.id, "s5"),
      subject: { name: "Door", siteId: w.siteA.id },
    });
    const seqs = async (q: Parameters<Store["listEvents"]>[1]) =>
      (await store.listEvents(w.a.id, q)).map((e) => e.seq);
    assert.deepEqual(await seqs({ siteId: w.siteA.id }), [motion, agent], "not another tenant's");
    assert.deepEqual(await seqs({ siteId: w.siteA.id, types: ["camera.motion"] }), [motion]);
    assert.deepEqual(await seqs({ siteId: w.siteA.id, deviceId: "dev-1" }), [motion]);
    assert.deepEqual(await seqs({ siteId: w.siteA.id, before: motion }), [agent]);
    assert.deepEqual(await seqs({ siteId: w.siteA.id, limit: 1 }), [motion]);
    const reader = { id: "user:u-1", since: 0 };
    await store.markEventsRead(w.a.id, reader, [motion]);
    assert.deepEqual(await seqs({ siteId: w.siteA.id, unread: true, reader }), [agent]);
    assert.deepEqual(await seqs({ siteId: "site-unknown" }), []);
  });

  race("appendEvent of one transition from both nodes: exactly one event", async (s1, s2) => {
    const w = await world(s1);
    const r = await both(s1, s2, 10, (s) => s.appendEvent(newEvent(w.a.id, "agent.offline:x:1")));
    assert.equal(r.filter(Boolean).length, 1);
    assert.equal((await s2.listEvents(w.a.id)).length, 1);
  });

  const hook = (tenantId: string) => ({
    tenantId,
    url: "https://hooks.example.com/in",
    events: ["device.down" as const, "device.up" as const],
    secretSeed: "sealed",
    createdBy: "user:u1",
  });

  test(
    "sites: alerts paused until a time by someone, resumed; tenant-scoped",
    async (store, clock) => {
      const w = await world(store);
      const s = await store.createSite({ tenantId: w.a.id, name: "Depot" });
      assert.deepEqual([s.alertsPausedUntil, s.alertsPausedBy], [null, null]);
      assert.deepEqual(await store.getSite(w.a.id, s.id), s);
      const until = clock.now() + 3_600_000;
      assert.equal(
        await store.setSiteAlertsPause(w.b.id, s.id, { until, by: "user:u2" }),
        null,
        "another tenant's site",
      );
      const paused = await store.setSiteAlertsPause(w.a.id, s.id, { until, by: "user:u1" });
      assert.deepEqual([paused?.alertsPausedUntil, paused?.alertsPausedBy], [until, "user:u1"]);
      assert.deepEqual(await store.getSite(w.a.id, s.id), paused);
      const resumed = await store.setSiteAlertsPause(w.a.id, s.id, null);
      assert.deepEqual([resumed?.alertsPausedUntil, resumed?.alertsPausedBy], [null, null]);
      assert.equal(resumed?.name, "Depot");
    },
  );

  test("webhooks: tenant-scoped; deleting one removes its deliveries", async (store) => {
    const w = await world(store);
    const h = await store.createWebhook(hook(w.a.id));
    assert.equal(h.format, "auto", "created without a format: auto");
    assert.deepEqual(await store.getWebhook(w.a.id, h.id), h);
    assert.equal(await store.getWebhook(w.b.id, h.id), null);
    const chat = await store.createWebhook({ ...hook(w.b.id), format: "slack" });
    assert.equal((await store.getWebhook(w.b.id, chat.id))?.format, "slack");
    assert.equal(await store.updateWebhook(w.a.id, chat.id, { format: "json" }), null, "B's");
    const edited = await store.updateWebhook(w.b.id, chat.id, {
      events: ["device.up", "camera.motion"],
    });
    assert.deepEqual(
      [edited?.events, edited?.format, edited?.url, edited?.secretSeed],
      [["device.up", "camera.motion"], "slack", chat.url, chat.secretSeed],
    );
    const reformatted = await store.updateWebhook(w.b.id, chat.id, { format: "discord" });
    assert.deepEqual([reformatted?.events, reformatted?.format], [
      ["device.up", "camera.motion"],
      "discord",
    ]);
    assert.deepEqual(await store.getWebhook(w.b.id, chat.id), reformatted);
    assert.equal(reformatted?.schedule, null, "no active hours: always");
    const schedule = { days: [1, 5], from: "18:00", to: "08:00", timeZone: "Europe/Berlin" };
    const nights = await store.updateWebhook(w.b.id, chat.id, { schedule });
    assert.deepEqual([nights?.schedule, nights?.format], [schedule, "discord"]);
    assert.deepEqual((await store.getWebhook(w.b.id, chat.id))?.schedule, schedule);
    assert.deepEqual(
      (await store.updateWebhook(w.b.id, chat.id, { events: ["device.down"] }))?.schedule,
      schedule,
      "a change of events keeps the hours",
    );
    assert.equal((await store.updateWebhook(w.b.id, chat.id, { schedule: null }))?.schedule, null);
    // How it holds back a flood: the default (null) until set; kept across other changes; off.
    assert.equal(reformatted?.digest, null, "the default digest");
    const digest = { each: 20, minutes: 60 };
    const calmer = await store.updateWebhook(w.b.id, chat.id, { digest });
    assert.deepEqual([calmer?.digest, calmer?.schedule], [digest, null]);
    assert.deepEqual(
      (await store.updateWebhook(w.b.id, chat.id, { schedule }))?.digest,
      digest,
      "a change of hours keeps the digest",
    );
    assert.equal((await store.updateWebhook(w.b.id, chat.id, { digest: "off" }))?.digest, "off");
    assert.equal((await store.getWebhook(w.b.id, chat.id))?.digest, "off");
    assert.equal((await store.updateWebhook(w.b.id, chat.id, { digest: null }))?.digest, null);
    const born = await store.createWebhook({ ...hook(w.a.id), schedule, digest });
    assert.deepEqual((await store.getWebhook(w.a.id, born.id))?.schedule, schedule);
    assert.deepEqual((await store.listWebhooks(w.a.id)).map((x) => x.digest), [null, digest]);
    assert.equal(await store.deleteWebhook(w.a.id, born.id), true);
    assert.equal(await store.deleteWebhook(w.b.id, chat.id), true);
    assert.deepEqual(await store.listWebhooks(w.a.id), [h]);
    assert.deepEqual(await store.listWebhooks(w.b.id), []);
    const d = { id: `${h.id}:1`, tenantId: w.a.id, webhookId: h.id, eventType: "x", body: "{}" };
    assert.equal(await store.createDelivery(d), true);
    assert.equal(await store.createDelivery(d), false, "same id: nothing");
    assert.equal(
      await store.createDelivery({ ...d, id: "other", tenantId: w.b.id }),
      false,
      "another tenant's webhook",
    );
    assert.equal(await store.deleteWebhook(w.b.id, h.id), false);
    assert.equal(await store.deleteWebhook(w.a.id, h.id), true);
    assert.deepEqual(await store.listDeliveries(w.a.id, h.id), []);
    assert.equal(await store.claimDelivery("n1", 60_000), null);
  });

  test(
    "deliveries: one queued with dueAt is claimed from then, not before",
    async (store, clock) => {
      const w = await world(store);
      const h = await store.createWebhook(hook(w.a.id));
      const due = clock.now() + 600_000;
      assert.equal(
        await store.createDelivery({
          id: `${h.id}:digest:1`,
          tenantId: w.a.id,
          webhookId: h.id,
          eventType: "alert.digest",
          body: "{}",
          dueAt: due,
        }),
        true,
      );
      const [d] = await store.listDeliveries(w.a.id, h.id);
      assert.deepEqual([d.state, d.nextAttemptAt], ["pending", due]);
      assert.equal(await store.claimDelivery("n1", 60_000), null, "not due yet");
      clock.advance(600_000);
      assert.equal((await store.claimDelivery("n1", 60_000))?.id, `${h.id}:digest:1`);
    },
  );

  test(
    "deliveries: claimed under a lease, attempts recorded by the holder only",
    async (store, clock) => {
      const w = await world(store);
      const h = await store.createWebhook(hook(w.a.id));
      await store.createDelivery({
        id: `${h.id}:1`,
        tenantId: w.a.id,
        webhookId: h.id,
        eventType: "device.down",
        body: '{"a":1}',
      });
      const c = await store.claimDelivery("n1", 60_000);
      assert.ok(c);
      assert.deepEqual([c.state, c.claimedBy, c.body, c.attempts], [
        "pending",
        "n1",
        '{"a":1}',
        [],
      ]);
      assert.equal(await store.claimDelivery("n2", 60_000), null, "held by n1");
      const failed = { at: clock.now(), status: 500, error: "HTTP 500" };
      assert.equal(
        await store.finishDeliveryAttempt(c.id, "n2", failed, {
          state: "pending",
          nextAttemptAt: 0,
        }),
        false,
        "not the holder",
      );
      assert.equal(
        await store.finishDeliveryAttempt(c.id, "n1", failed, {
          state: "pending",
          nextAttemptAt: clock.now() + 1000,
        }),
        true,
      );
      assert.equal(await store.claimDelivery("n2", 60_000), null, "not due yet");
      clock.advance(1000);
      const again = (await store.claimDelivery("n2", 60_000))!;
      assert.deepEqual(again.attempts, [failed]);
      clock.advance(60_001);
      const stolen = (await store.claimDelivery("n3", 60_000))!;
      assert.equal(stolen.claimedBy, "n3", "an expired lease is claimed again");
      // An attempt may carry a note (an email that went out, not to every address).
      const ok = { at: clock.now(), status: 250, error: "", note: "not sent to b@example.com" };
      assert.equal(
        await store.finishDeliveryAttempt(again.id, "n2", ok, {
          state: "delivered",
          nextAttemptAt: 0,
        }),
        false,
        "the old holder's result is refused",
      );
      assert.equal(
        await store.finishDeliveryAttempt(stolen.id, "n3", ok, {
          state: "delivered",
          nextAttemptAt: 0,
        }),
        true,
      );
      const [d] = await store.listDeliveries(w.a.id, h.id);
      assert.deepEqual([d.state, d.attempts.length, d.claimedBy], ["delivered", 2, null]);
      assert.deepEqual(d.attempts, [failed, ok]);
      assert.deepEqual(await store.listDeliveries(w.b.id, h.id), []);
      assert.equal(await store.claimDelivery("n1", 60_000), null, "delivered is never claimed");
    },
  );

  race(
    "createWebhookUnder from both nodes at once: the cap holds, the rest refused",
    async (s1, s2) => {
      const w = await world(s1);
      for (let i = 0; i < 3; i++) await s1.createWebhook(hook(w.a.id));
      await s1.createWebhook(hook(w.b.id)); // another tenant's count nothing
      const made = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 ? s1 : s2).createWebhookUnder(hook(w.a.id), 8)),
      );
      assert.equal(made.filter((h) => h !== null).length, 5, "up to the cap of 8");
      const kept = await s1.listWebhooks(w.a.id);
      assert.equal(kept.length, 8);
      for (const h of made) if (h) assert.ok(kept.some((k) => k.id === h.id), "a kept one listed");
      assert.equal(await s2.createWebhookUnder(hook(w.a.id), 8), null, "full");
      assert.ok(await s2.createWebhookUnder(hook(w.b.id), 8), "the other tenant has room");
    },
  );

  race("claimDelivery from both nodes: each delivery claimed once", async (s1, s2) => {
    const w = await world(s1);
    const h = await s1.createWebhook(hook(w.a.id));
    for (let i = 0; i < 3; i++) {
      await s1.createDelivery({
        id: `${h.id}:${i}`,
        tenantId: w.a.id,
        webhookId: h.id,
        eventType: "device.down",
        body: "{}",
      });
    }
    const got = await both(s1, s2, 10, (s, i) => s.claimDelivery(`n${i}`, 60_000));
    const ids = got.filter((x) => x !== null).map((x) => x!.id);
    assert.equal(ids.length, 3);
    assert.equal(new Set(ids).size, 3);
  });

  test(
    "claimDelivery: webhooks left out are skipped however overdue; others in due order",
    async (store, clock) => {
      const w = await world(store);
      const busy = await store.createWebhook(hook(w.a.id));
      const quiet = await store.createWebhook(hook(w.b.id));
      const third = await store.createWebhook(hook(w.b.id));
      const queue = async (h: { id: string; tenantId: string }, n: number) => {
        for (let i = 0; i < n; i++) {
          await store.createDelivery({
            id: `${h.id}:${i}`,
            tenantId: h.tenantId,
            webhookId: h.id,
            eventType: "device.down",
            body: "{}",
          });
          clock.advance(10);
        }
      };
      await queue(busy, 700); // a backlog, all older than the others
      await queue(third, 1);
      await queue(quiet, 2);
      const c1 = (await store.claimDelivery("n1", 60_000, [busy.id]))!;
      assert.equal(c1.id, `${third.id}:0`, "the most overdue of the other webhooks");
      const c2 = (await store.claimDelivery("n1", 60_000, [busy.id, third.id]))!;
      assert.equal(c2.id, `${quiet.id}:0`);
      assert.equal(
        await store.claimDelivery("n1", 60_000, [busy.id, quiet.id, third.id]),
        null,
        "every webhook left out",
      );
      assert.equal((await store.claimDelivery("n1", 60_000))!.id, `${busy.id}:0`, "none left out");
      assert.equal((await store.claimDelivery("n1", 60_000, []))!.id, `${busy.id}:1`);
      assert.equal(
        (await store.claimDelivery("n1", 60_000, [busy.id]))!.id,
        `${quiet.id}:1`,
        "a claimed delivery is not due",
      );
      assert.equal(await store.claimDelivery("n1", 60_000, [busy.id]), null);
    },
  );

  test(
    "purgeEvents: old events and finished deliveries go; pending deliveries stay",
    async (store, clock) => {
      const w = await world(store);
      const h = await store.createWebhook(hook(w.a.id));
      const d = (id: string) => ({
        id,
        tenantId: w.a.id,
        webhookId: h.id,
        eventType: "x",
        body: "{}",
      });
      await store.appendEvent(newEvent(w.a.id, "old"));
      await store.createDelivery(d("done"));
      await store.createDelivery(d("waiting"));
      const c = (await store.claimDelivery("n1", 1000))!;
      const ok = { at: clock.now(), status: 204, error: "" };
      await store.finishDeliveryAttempt(c.id, "n1", ok, { state: "delivered", nextAttemptAt: 0 });
      clock.advance(10_000);
      await store.appendEvent(newEvent(w.a.id, "new"));
      assert.deepEqual(await store.purgeEvents(clock.now() - 5_000), { events: 1, deliveries: 1 });
      assert.deepEqual((await store.listEvents(w.a.id)).length, 1);
      // A picture goes with its event's time; one older than a week goes even when no new one
      // came to drop it.
      const cam = await store.createDevice({
        tenantId: w.a.id,
        siteId: w.siteA.id,
        host: "192.0.2.90",
        ports: [554],
      });
      const picture = (id: string) =>
        store.putEventSnapshot({
          id,
          tenantId: w.a.id,
          siteId: w.siteA.id,
          deviceId: cam.id,
          jpeg: new Uint8Array([0xff, 0xd8, 0xff, 0xd9]),
        });
      await picture("snap-old");
      clock.advance(10_000);
      await picture("snap-new");
      await store.purgeEvents(clock.now() - 5_000);
      assert.equal(await store.getEventSnapshot(w.a.id, "snap-old"), null, "went with its time");
      assert.ok(await store.getEventSnapshot(w.a.id, "snap-new"));
      clock.advance(SNAPSHOT_KEEP_MS + 1);
      await store.purgeEvents(0);
      assert.equal(await store.getEventSnapshot(w.a.id, "snap-new"), null, "a week on, gone");
      assert.deepEqual((await store.listDeliveries(w.a.id, h.id)).map((x) => x.id), [
        c.id === "done" ? "waiting" : "done",
      ]);
    },
  );
}
