// A site in maintenance, on a real embedded store with an injected clock: while its alerts are
// paused its events are recorded (marked alertsPaused) and nothing is queued for any webhook,
// email or chat; another site's events go out as usual; once the pause ends, or on resume, the
// site's events go out again. The same for one device whose alerts are snoozed.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import { addWebhook } from "../../../_fixtures/webhooks.ts";

Deno.test("events of a site whose alerts are paused: recorded and marked, nothing queued; another site's queued; after the pause or a resume, queued again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-pause-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 0));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const t = await store.createTenant({ name: "Acme" });
    const depot = await store.createSite({ tenantId: t.id, name: "Depot" });
    const hq = await store.createSite({ tenantId: t.id, name: "HQ" });
    const hook = await addWebhook(store, t.id, "https://hooks.example.com/in");
    const events = new EventProducer({
      store,
      clock,
      log: createLogger({ role: "test", level: "silent" }),
    });
    let n = 0;
    const down = (siteId: string) =>
      events.emit({
        tenantId: t.id,
        type: "device.down",
        subject: { name: `Cam ${n}`, siteId },
        actor: "system",
        detail: {},
        key: `down:${n++}`,
      });
    const queued = async () => (await store.listDeliveries(t.id, hook.id, 100)).length;

    await store.setSiteAlertsPause(t.id, depot.id, {
      until: clock.now() + 3_600_000,
      by: "user:u1",
    });
    const during = await down(depot.id);
    assertEquals(during?.detail.alertsPaused, true, "the event says its alerts were paused");
    assertEquals(during?.subject.siteName, "Depot");
    assertEquals(await queued(), 0, "nothing queued for the paused site");
    const other = await down(hq.id);
    assert(!("alertsPaused" in (other?.detail ?? {})));
    assertEquals(await queued(), 1, "another site's event goes out");

    clock.advance(3_600_000); // the pause has ended
    await down(depot.id);
    assertEquals(await queued(), 2);

    await store.setSiteAlertsPause(t.id, depot.id, { until: clock.now() + 60_000, by: "u" });
    await down(depot.id);
    assertEquals(await queued(), 2);
    await store.setSiteAlertsPause(t.id, depot.id, null); // resumed by hand
    await down(depot.id);
    assertEquals(await queued(), 3);
    assertEquals((await store.listEvents(t.id)).length, 5, "every event recorded");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("events of a device whose alerts are snoozed: recorded and marked, nothing queued; another device's queued; after the snooze or a resume, queued again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-snooze-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 0));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const t = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: t.id, name: "Depot" });
    const device = (host: string) =>
      store.createDevice({ tenantId: t.id, siteId: site.id, host, ports: [554] });
    const tree = await device("192.0.2.10");
    const gate = await device("192.0.2.11");
    assertEquals(tree.alertsSnoozedUntil, null, "not snoozed when made");
    const hook = await addWebhook(store, t.id, "https://hooks.example.com/in", ["camera.motion"]);
    const events = new EventProducer({
      store,
      clock,
      log: createLogger({ role: "test", level: "silent" }),
    });
    let n = 0;
    const motion = (deviceId: string) =>
      events.emit({
        tenantId: t.id,
        type: "camera.motion",
        subject: { name: `Cam ${n}`, siteId: site.id, deviceId },
        actor: "system",
        detail: {},
        key: `motion:${n++}`,
      });
    const queued = async () => (await store.listDeliveries(t.id, hook.id, 100)).length;

    await store.updateDevice(t.id, tree.id, { alertsSnoozedUntil: clock.now() + 3_600_000 });
    const during = await motion(tree.id);
    assertEquals(during?.detail.alertsSnoozed, true, "the event says its alerts were snoozed");
    assertEquals(await queued(), 0, "nothing queued for the snoozed device");
    const other = await motion(gate.id);
    assert(!("alertsSnoozed" in (other?.detail ?? {})));
    assertEquals(await queued(), 1, "another device's event goes out");

    clock.advance(3_600_000); // the snooze has ended
    await motion(tree.id);
    assertEquals(await queued(), 2);
    await store.updateDevice(t.id, tree.id, { alertsSnoozedUntil: clock.now() + 60_000 });
    await motion(tree.id);
    assertEquals(await queued(), 2);
    await store.updateDevice(t.id, tree.id, { alertsSnoozedUntil: null }); // resumed by hand
    assertEquals((await store.getDevice(t.id, tree.id))?.alertsSnoozedUntil, null);
    await motion(tree.id);
    assertEquals(await queued(), 3);
    assertEquals((await store.listEvents(t.id)).length, 5, "every event recorded");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a webhook with active hours gets only the events inside them; the others all", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-hours-" });
  // Friday 2026-12-04, 17:00 UTC.
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 17, 0));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const t = await store.createTenant({ name: "Acme" });
    const nights = await store.createWebhook({
      tenantId: t.id,
      url: "mailto:guard@example.com",
      events: ["camera.motion"],
      schedule: { days: [1, 2, 3, 4, 5], from: "18:00", to: "08:00", timeZone: "UTC" },
      secretSeed: "seed",
      createdBy: "user:u1",
    });
    const always = await addWebhook(store, t.id, "https://hooks.example.com/in", ["camera.motion"]);
    const events = new EventProducer({
      store,
      clock,
      log: createLogger({ role: "test", level: "silent" }),
    });
    const motion = (i: number) =>
      events.emit({
        tenantId: t.id,
        type: "camera.motion",
        subject: { name: "Door" },
        actor: "system",
        detail: {},
        key: `m:${i}`,
      });
    await motion(0); // Friday 17:00: before the night
    clock.advance(2 * 3_600_000);
    await motion(1); // Friday 19:00
    clock.advance(12 * 3_600_000);
    await motion(2); // Saturday 07:00: Friday's night still
    clock.advance(12 * 3_600_000);
    await motion(3); // Saturday 19:00: no night chosen on Saturdays
    const count = async (id: string) => (await store.listDeliveries(t.id, id, 100)).length;
    assertEquals(await count(nights.id), 2);
    assertEquals(await count(always.id), 4);
    assertEquals((await store.listEvents(t.id)).length, 4, "every event recorded");
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
