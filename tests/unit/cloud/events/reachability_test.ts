// Reachability reports at site scale, on a real embedded store: every pair of a report is
// recorded (stale pairs dropped), flips raise events named by device and site — many flips the
// same way at once one grouped event per step that lists each port once, a few one event each —
// a big report gives the event loop turns while it is recorded, and the store is read per step of
// the report — never the whole site, never once per event.
import assert from "node:assert/strict";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import {
  GROUP_MIN,
  REACHABILITY_STEP,
  recordReachability,
  siteReachability,
} from "../../../../src/cloud/events/reachability.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { counted } from "../../../_fixtures/counted_store.ts";

Deno.test("reachability: a 1 200-pair report is recorded whole, in steps, its flips grouped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-reach-" });
  const raw = await openStore(`sqlite:${dir}/cloud.db`, dir);
  try {
    const clock = new ManualClock();
    const tenant = await raw.createTenant({ name: "Acme" });
    const site = await raw.createSite({ tenantId: tenant.id, name: "Harbour" });
    const labels = new Map<string, string>();
    for (let i = 0; i < 600; i++) {
      const d = await raw.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: i === 7 ? "Gate-7.Local" : `10.20.${i >> 8}.${i & 255}`,
        ports: [80, 554],
        label: i % 100 === 0 ? `Gate ${i}` : "",
        model: "",
      });
      labels.set(d.host.toLowerCase(), d.label);
    }
    const { store, calls } = counted(raw);
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    const who = { agentId: "ag-1", tenantId: tenant.id, siteId: site.id };
    const allow = await raw.getAllowlist(site.id);
    assert.equal(allow.entries.length, 1_200);
    const report = (up: (i: number) => boolean) => ({
      full: true,
      ports: [
        ...allow.entries.map((e, i) => ({
          host: e.host,
          port: e.port,
          up: up(i),
          sinceMs: 0,
          error: up(i) ? "" : "connection refused",
        })),
        { host: "10.99.0.1", port: 80, up: false, sinceMs: 0, error: "" }, // not allowlisted
      ],
    });
    /** Records `r` while counting the event loop's turns. */
    const record = async (r: ReturnType<typeof report>) => {
      calls.clear();
      const { result: changes, turns } = await countLoopTurns(() =>
        recordReachability({ store, events, clock }, who, r)
      );
      return { changes, turns };
    };
    const steps = Math.ceil(1_201 / REACHABILITY_STEP);

    const first = await record(report(() => true));
    assert.equal(first.changes, 1_200, "every allowlisted pair, none other");
    assert.ok(first.turns >= steps - 1, `the loop turned between steps (${first.turns})`);
    assert.equal(calls.get("getDevicesByHost"), steps, "one read of devices per step");
    assert.equal(calls.get("recordPortStates"), steps, "one write per step");
    for (const m of ["getAllowlist", "listDevices", "recordPortState", "appendEvent"]) {
      assert.equal(calls.get(m), undefined, `no ${m}`);
    }
    assert.deepEqual(await raw.listEvents(tenant.id), [], "first seen up: no news");
    assert.deepEqual(await raw.countPortStates(tenant.id, site.id), {
      total: 1_200,
      checked: 1_200,
      up: 1_200,
    });

    clock.advance(1_000);
    const again = await record(report(() => true));
    assert.equal(again.changes, 0);

    clock.advance(1_000);
    // Down: both ports of every other device (Gate-7.Local's among them).
    const downHosts = new Set(allow.entries.map((e) => e.host).filter((_, i) => i % 4 < 2));
    downHosts.add("Gate-7.Local");
    const isUp = (i: number) => !downHosts.has(allow.entries[i].host);
    const down = await record(report(isUp));
    const flips = downHosts.size * 2;
    assert.ok(flips >= 600);
    assert.equal(down.changes, flips);
    assert.ok(down.turns >= steps - 1);
    assert.equal(calls.get("appendEvent"), steps, "one grouped event per step");
    assert.ok((calls.get("getSite") ?? 0) <= steps, "the site's name read once per step");
    assert.ok((calls.get("listWebhooks") ?? 0) <= steps, "webhooks read once per step");
    const raised = await raw.listEvents(tenant.id, { limit: 500 });
    assert.equal(raised.length, steps);
    assert.ok(raised.every((e) => e.type === "device.down" && e.subject.siteName === "Harbour"));
    // Each flip is in exactly one grouped event, named by its device.
    const ports = raised.flatMap((e) => {
      const listed = e.detail.ports as { name: string; host: string; port: number }[];
      assert.equal(e.subject.count, listed.length, "every port of the group listed");
      assert.match(e.subject.name, new RegExp(`^${listed.length} device ports down: .* more$`));
      assert.equal(e.subject.host, undefined, "the site is the subject");
      return listed;
    });
    assert.equal(ports.length, flips);
    assert.equal(new Set(ports.map((p) => `${p.host}:${p.port}`)).size, flips, "each once");
    for (const { name, host, port } of ports) {
      const label = labels.get(host);
      assert.equal(name, label ? `${label} (${host}:${port})` : `${host}:${port}`);
    }
    assert.ok(ports.some((p) => /^Gate \d+ /.test(p.name)), "labels used");
    assert.ok(ports.some((p) => p.host === "gate-7.local"), "a host matched in any case");
    const r = await siteReachability(raw, tenant.id, site.id, { limit: 1_000 });
    assert.deepEqual([r.up, r.total, r.checked, r.ports.length], [
      1_200 - flips,
      1_200,
      1_200,
      1_000,
    ]);
    assert.ok(r.next);
    const rest = await siteReachability(raw, tenant.id, site.id, { limit: 1_000, after: r.next });
    assert.deepEqual([rest.ports.length, rest.next], [200, null]);
    const onlyDown = await siteReachability(raw, tenant.id, site.id, { limit: 1_000, up: false });
    assert.equal(onlyDown.ports.length, flips);
  } finally {
    await raw.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reachability: under GROUP_MIN flips one event each; from it one grouped event per direction", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-group-" });
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir);
  try {
    const clock = new ManualClock();
    const tenant = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: tenant.id, name: "Depot" });
    for (let i = 0; i < 20; i++) {
      await store.createDevice({
        tenantId: tenant.id,
        siteId: site.id,
        host: `10.30.0.${i}`,
        ports: [554],
        label: `Cam ${i}`,
        model: "",
      });
    }
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    const who = { agentId: "ag-1", tenantId: tenant.id, siteId: site.id };
    const send = (up: (i: number) => boolean) =>
      recordReachability({ store, events, clock }, who, {
        full: false,
        ports: Array.from({ length: 20 }, (_, i) => ({
          host: `10.30.0.${i}`,
          port: 554,
          up: up(i),
          sinceMs: 0,
          error: up(i) ? "" : "connection timed out",
        })),
      });
    const newest = async (n: number) => (await store.listEvents(tenant.id, { limit: n }));
    await send(() => true); // first seen up: no news
    clock.advance(1_000);
    await send((i) => i >= GROUP_MIN - 1); // 9 down: 9 events
    const nine = await newest(50);
    assert.equal(nine.length, GROUP_MIN - 1);
    assert.ok(nine.every((e) => e.type === "device.down" && e.subject.port === 554));
    assert.ok(nine.some((e) => e.subject.name === "Cam 0 (10.30.0.0:554)"));

    clock.advance(1_000);
    await send((i) => i < GROUP_MIN - 1 || i >= 2 * GROUP_MIN - 1); // the 9 back, 10 others down
    const after = (await newest(50)).slice(0, -(GROUP_MIN - 1));
    assert.deepEqual(after.map((e) => e.type).sort(), [
      "device.down",
      ...Array(GROUP_MIN - 1).fill("device.up"),
    ]);
    const group = after.find((e) => e.type === "device.down")!;
    assert.equal(group.subject.count, GROUP_MIN);
    assert.equal(group.subject.siteName, "Depot");
    assert.equal(
      group.subject.name,
      `${GROUP_MIN} device ports down: Cam 9 (10.30.0.9:554), Cam 10 (10.30.0.10:554), Cam 11 (10.30.0.11:554) and ${
        GROUP_MIN - 3
      } more`,
    );
    assert.equal(group.detail.error, "connection timed out");
    const ports = group.detail.ports as { name: string; host: string; port: number }[];
    assert.deepEqual(
      ports.map((p) => p.host),
      Array.from({ length: GROUP_MIN }, (_, i) => `10.30.0.${i + GROUP_MIN - 1}`),
    );
    assert.ok(ports.every((p) => p.port === 554 && (p as { deviceId?: string }).deviceId));
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
