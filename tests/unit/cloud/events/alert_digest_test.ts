// Flood control for the alerts a person reads (email, chat), on a real embedded store with an injected clock: each mailto:
// webhook gets its first few events of a window as emails of their own, and one digest (one
// delivery however many events and however often it is queued) due at the window's end; an https
// webhook gets every event; another address list counts on its own; the next window starts over.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { createLogger } from "../../../../src/shared/log.ts";
import { EventProducer } from "../../../../src/cloud/events/producer.ts";
import {
  describeDigest,
  DIGEST_READ_MAX,
  DIGEST_TYPE,
  DIGEST_WINDOW_MS,
  digestInput,
  digestOf,
  digestWindow,
  EACH_PER_WINDOW,
  parseDigest,
  readDigest,
} from "../../../../src/cloud/events/alert_digest.ts";
import { addWebhook } from "../../../_fixtures/webhooks.ts";
import type { Store } from "../../../../src/cloud/store/store.ts";

Deno.test("digest window: aligned, ten minutes, the end excluded", () => {
  const t = Date.UTC(2026, 11, 5, 14, 7, 30);
  const w = digestWindow(t);
  assertEquals([w.start, w.end], [Date.UTC(2026, 11, 5, 14, 0), Date.UTC(2026, 11, 5, 14, 10)]);
  assertEquals(digestWindow(w.end).index, w.index + 1);
  assertEquals(DIGEST_WINDOW_MS, 600_000);
  assertEquals(parseDigest('{"type":"device.down"}'), null);
  assertEquals(parseDigest("not json"), null);
});

/** A tenant with two mailto: webhooks, an https one and a Slack channel, all for device.down. */
async function world(store: Store) {
  const t = await store.createTenant({ name: "Acme" });
  const hook = (url: string) => addWebhook(store, t.id, url);
  return {
    t,
    ops: await hook("mailto:ops@example.com"),
    boss: await hook("mailto:boss@example.com"),
    https: await hook("https://hooks.example.com/in"),
    // A Slack channel (by its host): a person reads it, as an inbox.
    slack: await hook("https://hooks.slack.com/services/T0/B0/x"),
  };
}

/** Emits `n` device.down events for devices `from`…, one second apart. */
async function downs(
  events: EventProducer,
  clock: ManualClock,
  tenantId: string,
  n: number,
  from = 0,
) {
  for (let i = from; i < from + n; i++) {
    await events.emit({
      tenantId,
      type: "device.down",
      subject: { name: `Cam ${i}` },
      actor: "system",
      detail: {},
      key: `down:${i}`,
    });
    clock.advance(1000);
  }
}

Deno.test("email alerts: past the window's few, one digest due at its end; https gets every event; each address list counts on its own; the next window starts over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-digest-" });
  // 14:01:00: the window 14:00–14:10.
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 1));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const w = await world(store);
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    await downs(events, clock, w.t.id, 9);
    const list = async (id: string) => await store.listDeliveries(w.t.id, id, 100);

    const ops = await list(w.ops.id);
    const own = ops.filter((d) => d.eventType === "device.down");
    const digests = ops.filter((d) => d.eventType === DIGEST_TYPE);
    assertEquals(own.length, EACH_PER_WINDOW, "the first five as emails of their own");
    assertEquals(digests.length, 1, "one digest for the other four");
    const body = parseDigest(digests[0].body)!;
    assertEquals([body.start, body.end], [
      Date.UTC(2026, 11, 5, 14, 0),
      Date.UTC(2026, 11, 5, 14, 10),
    ]);
    assertEquals(digests[0].nextAttemptAt, body.end, "due at the window's end");
    assertEquals((await list(w.boss.id)).length, EACH_PER_WINDOW + 1, "its own count");
    assertEquals((await list(w.https.id)).length, 9, "an https receiver gets every event");
    assertEquals(
      (await list(w.slack.id)).map((d) => d.eventType).sort(),
      [...Array(EACH_PER_WINDOW).fill("device.down"), DIGEST_TYPE].sort(),
      "a chat channel: five of its own and the digest",
    );

    // The digest is not claimed before the window ends; then it is.
    const claimed: string[] = [];
    for (
      let d;
      (d = await store.claimDelivery("n1", 60_000, [w.https.id, w.boss.id, w.slack.id]));
    ) {
      claimed.push(d.eventType);
    }
    assert(!claimed.includes(DIGEST_TYPE), "not due yet");
    clock.set(body.end);
    const due: string[] = [];
    for (
      let d;
      (d = await store.claimDelivery("n1", 60_000, [w.https.id, w.boss.id, w.slack.id]));
    ) {
      due.push(d.id);
    }
    assert(due.includes(digests[0].id), "due at the window's end");

    // The next window: emails of their own again.
    await downs(events, clock, w.t.id, 2, 100);
    const next = (await list(w.ops.id)).filter((d) => d.eventType === "device.down");
    assertEquals(next.length, EACH_PER_WINDOW + 2);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a digest lists the window's events its webhook would have been sent: not a paused site's, not outside its active hours; sent late after thousands more, still its window's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-digest-read-" });
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 0));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const t = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: t.id, name: "Depot" });
    // Active only from 14:05 on (UTC, every day).
    const hook = await store.createWebhook({
      tenantId: t.id,
      url: "mailto:ops@example.com",
      events: ["device.down"],
      schedule: { days: [0, 1, 2, 3, 4, 5, 6], from: "14:05", to: "23:00", timeZone: "UTC" },
      secretSeed: "seed",
      createdBy: "user:u1",
    });
    const add = (i: number, detail: Record<string, unknown> = {}) =>
      store.appendEvent({
        tenantId: t.id,
        type: "device.down",
        subject: { name: `Cam ${i}`, siteId: site.id },
        actor: "system",
        detail,
        key: `e:${i}`,
      });
    await add(0); // 14:00: outside its hours
    clock.set(Date.UTC(2026, 11, 5, 14, 6));
    await add(1);
    await add(2, { alertsPaused: true });
    await add(3);
    clock.set(Date.UTC(2026, 11, 5, 14, 11));
    await add(4); // the next window
    const w = digestWindow(Date.UTC(2026, 11, 5, 14, 6));
    const window = { type: DIGEST_TYPE, tenantId: t.id, start: w.start, end: w.end } as const;
    const read = await readDigest(store, hook, window);
    assertEquals(read.rows.map((e) => e.subject.name), ["Cam 1", "Cam 3"]);
    assertEquals([read.total, read.kinds, read.atLeast], [2, { "device.down": 2 }, false]);

    // Sent late (its retries last a day) after more events than a digest reads: still its
    // window's, found by time rather than by walking back from the newest.
    for (let i = 5; i < 5 + DIGEST_READ_MAX + 500; i++) {
      clock.advance(1_000);
      await add(i);
    }
    const late = await readDigest(store, hook, window);
    assertEquals(late.rows.map((e) => e.subject.name), ["Cam 1", "Cam 3"]);
    assertEquals([late.total, late.atLeast], [2, false]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a webhook's own digest: 2 in 30 minutes then one summary of its 30-minute window; off: every event on its own; the words for each; the summary says its own numbers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-digest-own-" });
  // 14:01:00: the 30-minute window 14:00–14:30.
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 14, 1));
  const store = await openStore(`sqlite:${dir}/cloud.db`, dir, clock);
  try {
    const w = await world(store);
    const calm = await store.updateWebhook(w.t.id, w.ops.id, {
      digest: { each: 2, minutes: 30 },
    });
    const every = await store.updateWebhook(w.t.id, w.slack.id, { digest: "off" });
    const events = new EventProducer({
      store,
      log: createLogger({ role: "test", level: "silent" }),
    });
    await downs(events, clock, w.t.id, 7);
    const list = async (id: string) => await store.listDeliveries(w.t.id, id, 100);

    const ops = await list(w.ops.id);
    assertEquals(ops.filter((d) => d.eventType === "device.down").length, 2);
    const digests = ops.filter((d) => d.eventType === DIGEST_TYPE);
    assertEquals(digests.length, 1);
    const body = parseDigest(digests[0].body)!;
    assertEquals([body.start, body.end], [
      Date.UTC(2026, 11, 5, 14, 0),
      Date.UTC(2026, 11, 5, 14, 30),
    ]);
    assertEquals(digests[0].nextAttemptAt, body.end);
    const input = await digestInput(store, calm!, body);
    assertEquals([input.each, input.minutes, input.total], [2, 30, 7]);
    // Off: seven messages of their own, no summary. The default one beside them: five and one.
    assertEquals((await list(w.slack.id)).map((d) => d.eventType), Array(7).fill("device.down"));
    assertEquals((await list(w.boss.id)).length, EACH_PER_WINDOW + 1);

    // In words (a JSON receiver holds nothing back).
    assertEquals(
      describeDigest(calm!),
      "2 in 30 minutes on their own, the rest in one summary at their end",
    );
    assertEquals(describeDigest(every!), "every event on its own");
    assertEquals(
      describeDigest(w.boss),
      "5 in 10 minutes on their own, the rest in one summary at their end",
    );
    assertEquals(describeDigest(w.https), null);
    assertEquals(digestOf(w.boss), { each: EACH_PER_WINDOW, minutes: 10 });
    assertEquals(digestOf(every!), null);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
