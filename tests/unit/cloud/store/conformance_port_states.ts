/**
 * Conformance cases for reachability at site scale ({@linkcode Store.recordPortStates},
 * {@linkcode Store.getPortStatesOf}, {@linkcode Store.countPortStates},
 * {@linkcode Store.pagePortStates},
 * {@linkcode Store.getDevicesByHost}), registered by `storeConformance` for every backend: a
 * batch keeps the single compare-and-set's guarantee per pair, and the reads of a page of
 * devices or of a site's numbers agree with what the whole site's states say.
 * @module
 */
import assert from "node:assert/strict";
import type { ManualClock } from "../../../../src/shared/clock.ts";
import type { PortState, Store } from "../../../../src/cloud/store/store.ts";

type Case = (title: string, fn: (store: Store, clock: ManualClock) => Promise<void>) => void;
type Race = (title: string, fn: (s1: Store, s2: Store) => Promise<void>) => void;

/**
 * A tenant with a site of `n` devices (ports 80 and 554): "Cam-Lobby.local", then 10.9.0.1 to
 * 10.9.0.(n-1); and another tenant with a site.
 */
async function site(store: Store, n: number) {
  const a = await store.createTenant({ name: "Acme" });
  const b = await store.createTenant({ name: "Bolt" });
  const hq = await store.createSite({ tenantId: a.id, name: "HQ" });
  const depot = await store.createSite({ tenantId: b.id, name: "Depot" });
  const devices = [];
  for (let i = 0; i < n; i++) {
    devices.push(
      await store.createDevice({
        tenantId: a.id,
        siteId: hq.id,
        host: i === 0 ? "Cam-Lobby.local" : `10.9.0.${i}`,
        ports: [80, 554],
        label: `cam ${i}`,
        model: "",
      }),
    );
  }
  return { a, b, hq, depot, devices };
}

const state = (
  tenantId: string,
  siteId: string,
  host: string,
  port: number,
  up: boolean,
  o: { since?: number; agentId?: string; error?: string } = {},
): PortState => ({
  tenantId,
  siteId,
  host,
  port,
  up,
  since: o.since ?? 1,
  error: up ? "" : o.error ?? "connection refused",
  agentId: o.agentId ?? "ag-1",
});

/** Registers the cases with the backend's `test` and `race`. */
export function portStatesConformance(test: Case, race: Race): void {
  test("recordPortStates: per pair as recordPortState, in the order given", async (store) => {
    const { a, hq } = await site(store, 3);
    const s = (host: string, port: number, up: boolean, o = {}) =>
      state(a.id, hq.id, host, port, up, o);
    await store.recordPortState(s("10.9.0.1", 80, true));
    await store.recordPortState(s("10.9.0.2", 80, false));
    const r = await store.recordPortStates([
      s("10.9.0.1", 80, true, { since: 5, agentId: "ag-2" }), // same: reporter refreshed
      s("10.9.0.2", 80, true, { since: 5 }), // flip
      s("10.9.0.1", 554, false, { since: 5 }), // first seen
      s("10.9.0.1", 554, false, { since: 6, error: "timed out" }), // the same pair again
      s("10.9.0.2", 554, true, { since: 5 }), // first seen up
    ]);
    assert.deepEqual(r, [
      { changed: false, previous: true },
      { changed: true, previous: false },
      { changed: true, previous: null },
      { changed: false, previous: false },
      { changed: true, previous: null },
    ]);
    const all = await store.getPortStatesOf(a.id, hq.id, ["10.9.0.1", "10.9.0.2"]);
    assert.deepEqual(
      all.map((x) => [x.host, x.port, x.up, x.since, x.error, x.agentId]),
      [
        ["10.9.0.1", 80, true, 1, "", "ag-2"],
        ["10.9.0.1", 554, false, 5, "timed out", "ag-1"],
        ["10.9.0.2", 80, true, 5, "", "ag-1"],
        ["10.9.0.2", 554, true, 5, "", "ag-1"],
      ],
      "since kept from each flip; reason and reporter refreshed",
    );
    assert.deepEqual(await store.recordPortStates([]), []);
  });

  test("recordPortStates: 600 pairs at once, then again: each pair changes once", async (store) => {
    const { a, hq } = await site(store, 301);
    const pairs = (up: (i: number) => boolean, since: number) =>
      Array.from(
        { length: 600 },
        (_, i) => state(a.id, hq.id, `10.9.0.${(i >> 1) + 1}`, i % 2 ? 554 : 80, up(i), { since }),
      );
    const first = await store.recordPortStates(pairs(() => true, 1));
    assert.equal(first.filter((x) => x.changed && x.previous === null).length, 600);
    const again = await store.recordPortStates(pairs(() => true, 2));
    assert.equal(again.filter((x) => x.changed).length, 0);
    const flips = await store.recordPortStates(pairs((i) => i % 3 !== 0, 3));
    assert.deepEqual(
      flips.flatMap((x, i) => x.changed ? [i] : []),
      Array.from({ length: 200 }, (_, k) => k * 3),
    );
    const counts = await store.countPortStates(a.id, hq.id);
    assert.deepEqual(counts, { total: 602, checked: 600, up: 400 });
  });

  race("recordPortStates of one flip from both nodes: each pair changes once", async (s1, s2) => {
    const { a, hq } = await site(s1, 51);
    const batch = (up: boolean, since: number) =>
      Array.from(
        { length: 100 },
        (_, i) => state(a.id, hq.id, `10.9.0.${(i >> 1) + 1}`, i % 2 ? 554 : 80, up, { since }),
      );
    await s1.recordPortStates(batch(true, 1));
    const r = await Promise.all([
      s1.recordPortStates(batch(false, 10)),
      s2.recordPortStates(batch(false, 11)),
      s1.recordPortStates(batch(false, 12)),
      s2.recordPortStates(batch(false, 13)),
    ]);
    for (let i = 0; i < 100; i++) {
      assert.equal(r.filter((x) => x[i].changed).length, 1, `pair ${i}: one change`);
    }
    assert.deepEqual(await s2.countPortStates(a.id, hq.id), { total: 102, checked: 100, up: 0 });
  });

  race(
    "recordPortStates of pairs both nodes see first at once: each pair first seen once",
    async (s1, s2) => {
      const { a, hq } = await site(s1, 51);
      const batch = (since: number) =>
        Array.from(
          { length: 100 },
          (_, i) =>
            state(a.id, hq.id, `10.9.0.${(i >> 1) + 1}`, i % 2 ? 554 : 80, false, { since }),
        );
      const r = await Promise.all([
        s1.recordPortStates(batch(10)),
        s2.recordPortStates(batch(11)),
        s1.recordPortStates(batch(12)),
        s2.recordPortStates(batch(13)),
      ]);
      for (let i = 0; i < 100; i++) {
        const pair = r.map((x) => x[i]);
        assert.deepEqual(
          pair.filter((c) => c.changed),
          [{ changed: true, previous: null }],
          `pair ${i}: first seen once`,
        );
        assert.equal(pair.filter((c) => !c.changed && c.previous === false).length, 3);
      }
      assert.deepEqual(await s2.countPortStates(a.id, hq.id), { total: 102, checked: 100, up: 0 });
    },
  );

  test("getPortStatesOf: a page's hosts only, tenant-scoped", async (store) => {
    const { a, b, hq, depot } = await site(store, 5);
    await store.recordPortStates([
      state(a.id, hq.id, "10.9.0.1", 80, true),
      state(a.id, hq.id, "10.9.0.1", 554, false),
      state(a.id, hq.id, "10.9.0.2", 80, true),
      state(a.id, hq.id, "cam-lobby.local", 80, true),
      state(b.id, depot.id, "10.9.0.1", 80, true),
    ]);
    const got = await store.getPortStatesOf(a.id, hq.id, ["10.9.0.1", "cam-lobby.local", "x"]);
    assert.deepEqual(got.map((x) => [x.host, x.port, x.up]), [
      ["10.9.0.1", 80, true],
      ["10.9.0.1", 554, false],
      ["cam-lobby.local", 80, true],
    ]);
    assert.deepEqual(await store.getPortStatesOf(b.id, hq.id, ["10.9.0.1"]), [], "tenant-scoped");
    assert.deepEqual(await store.getPortStatesOf(a.id, hq.id, []), []);
  });

  test("countPortStates: allowlisted pairs only; a removed device's states not counted", async (store) => {
    const { a, b, hq, depot, devices } = await site(store, 4);
    assert.deepEqual(await store.countPortStates(a.id, hq.id), { total: 8, checked: 0, up: 0 });
    // A second device on a host already listed (other case) adds only its new port.
    await store.createDevice({
      tenantId: a.id,
      siteId: hq.id,
      host: "cam-lobby.LOCAL",
      ports: [80, 8080],
      label: "",
      model: "",
    });
    await store.recordPortStates([
      state(a.id, hq.id, "cam-lobby.local", 80, true),
      state(a.id, hq.id, "cam-lobby.local", 8080, false),
      state(a.id, hq.id, "10.9.0.1", 80, true),
      state(a.id, hq.id, "10.9.0.3", 554, false),
      state(a.id, hq.id, "10.9.0.3", 9999, true), // not on the allowlist
    ]);
    assert.deepEqual(await store.countPortStates(a.id, hq.id), { total: 9, checked: 4, up: 2 });
    await store.deleteDevice(a.id, devices[3].id);
    assert.deepEqual(await store.countPortStates(a.id, hq.id), { total: 7, checked: 3, up: 2 });
    assert.deepEqual(await store.countPortStates(b.id, hq.id), { total: 0, checked: 0, up: 0 });
    assert.deepEqual(await store.countPortStates(b.id, depot.id), { total: 0, checked: 0, up: 0 });
  });

  test("pagePortStates: pages in (host, port) order, allowlisted pairs only, up or down", async (store) => {
    const { a, b, hq, depot, devices } = await site(store, 6);
    const states = [
      state(a.id, hq.id, "cam-lobby.local", 80, true),
      state(a.id, hq.id, "cam-lobby.local", 554, false),
      state(a.id, hq.id, "10.9.0.1", 554, true),
      state(a.id, hq.id, "10.9.0.1", 80, false),
      state(a.id, hq.id, "10.9.0.2", 80, true),
      state(a.id, hq.id, "10.9.0.3", 80, false),
      state(a.id, hq.id, "10.9.0.3", 554, false),
      state(a.id, hq.id, "10.9.0.4", 9999, true), // not on the allowlist
      state(a.id, hq.id, "10.9.0.5", 80, true),
      state(b.id, depot.id, "10.9.0.1", 80, true),
    ];
    await store.recordPortStates(states);
    await store.deleteDevice(a.id, devices[2].id); // 10.9.0.2: its state stays, not listed
    const key = (x: PortState) => `${x.host}:${x.port}:${x.up ? "up" : "down"}`;
    const walk = async (limit: number, up?: boolean) => {
      const out: string[] = [];
      let after: { host: string; port: number } | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await store.pagePortStates(a.id, hq.id, { after, up, limit });
        assert.ok(page.length <= limit);
        out.push(...page.map(key));
        if (page.length < limit) return out;
        after = { host: page.at(-1)!.host, port: page.at(-1)!.port };
      }
      throw new Error("no last page");
    };
    const all = [
      "10.9.0.1:80:down",
      "10.9.0.1:554:up",
      "10.9.0.3:80:down",
      "10.9.0.3:554:down",
      "10.9.0.5:80:up",
      "cam-lobby.local:80:up",
      "cam-lobby.local:554:down",
    ];
    assert.deepEqual(await walk(100), all);
    assert.deepEqual(await walk(2), all, "the same in pages of 2");
    assert.deepEqual(await walk(1), all, "and of 1, across the removed device's state");
    assert.deepEqual(await walk(2, false), all.filter((k) => k.endsWith("down")));
    assert.deepEqual(await walk(2, true), all.filter((k) => k.endsWith("up")));
    // The count and the pages agree.
    const counts = await store.countPortStates(a.id, hq.id);
    assert.equal(counts.checked, all.length);
    assert.equal(counts.up, all.filter((k) => k.endsWith("up")).length);
    assert.deepEqual(await store.pagePortStates(b.id, hq.id, { limit: 10 }), [], "tenant-scoped");
    assert.deepEqual(
      (await store.pagePortStates(b.id, depot.id, { limit: 10 })).map(key),
      [],
      "Bolt's depot has no device: its state is not listed",
    );
  });

  test("getDevicesByHost: case-insensitive, oldest first, tenant-scoped", async (store) => {
    const { a, b, hq, devices } = await site(store, 4);
    const again = await store.createDevice({
      tenantId: a.id,
      siteId: hq.id,
      host: "10.9.0.2",
      ports: [8080],
      label: "",
      model: "",
    });
    const ids = async (hosts: string[]) =>
      (await store.getDevicesByHost(a.id, hq.id, hosts)).map((d) => d.id);
    assert.deepEqual(await ids(["10.9.0.2", "10.9.0.3", "10.9.0.77"]), [
      devices[2].id,
      devices[3].id,
      again.id,
    ]);
    assert.deepEqual(await ids(["Cam-Lobby.local"]), [devices[0].id], "as stored");
    assert.deepEqual(await ids(["cam-lobby.local"]), [devices[0].id], "in lowercase");
    assert.deepEqual(await ids(["CAM-LOBBY.LOCAL", "10.9.0.1"]), [devices[0].id, devices[1].id]);
    assert.deepEqual(await ids([]), []);
    assert.deepEqual(await store.getDevicesByHost(b.id, hq.id, ["10.9.0.2"]), [], "tenant-scoped");
    const [d] = await store.getDevicesByHost(a.id, hq.id, ["10.9.0.1"]);
    assert.deepEqual([d.host, d.ports, d.label], ["10.9.0.1", [80, 554], "cam 1"]);
  });
}
