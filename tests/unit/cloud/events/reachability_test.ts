// Reachability reports at site scale, on a real embedded store: every pair of a report is
// recorded (stale pairs dropped), flips raise one event each named by device and site, a big
// report gives the event loop turns while it is recorded, and the store is read per step of the
// report — never the whole site, never once per event.
import assert from "node:assert/strict";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import {
  REACHABILITY_STEP,
  recordReachability,
  siteReachability,
} from "../../../../src/cloud/events/reachability.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { countLoopTurns } from "../../../_fixtures/loop_turns.ts";
import { counted } from "../../../_fixtures/counted_store.ts";

Deno.test("reachability: a 1 200-pair report is recorded whole, in steps, with one event per flip", async () => {
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
    assert.equal(calls.get("appendEvent"), flips, "one event per flip");
    assert.ok((calls.get("getSite") ?? 0) <= steps, "the site's name read once per step");
    assert.ok((calls.get("listWebhooks") ?? 0) <= steps, "webhooks read once per step");
    const raised = [
      ...await raw.listEvents(tenant.id, { limit: 500 }),
      ...await raw.listEvents(tenant.id, { limit: 500, before: flips - 499 }),
    ];
    assert.equal(raised.length, flips);
    assert.ok(raised.every((e) => e.type === "device.down" && e.subject.siteName === "Harbour"));
    for (const e of raised) {
      const { host, port } = e.subject as { host: string; port: number };
      const label = labels.get(host);
      assert.equal(e.subject.name, label ? `${label} (${host}:${port})` : `${host}:${port}`);
      assert.ok(e.subject.deviceId, "named by its device");
    }
    assert.ok(raised.some((e) => /^Gate \d+ /.test(e.subject.name)), "labels used");
    assert.ok(raised.some((e) => e.subject.host === "gate-7.local"), "a host matched in any case");
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
