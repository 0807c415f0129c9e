/**
 * A CLI session slides on connect at most once a minute per node, against the real embedded
 * store in a temporary directory and a manual clock (no sleeping).
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../../../src/shared/clock.ts";
import { openSqliteStore } from "../../../../src/cloud/store/sqlite.ts";
import {
  CLI_SLIDE_MS,
  SLIDE_EVERY_MS,
  slideOnConnect,
  SlideThrottle,
} from "../../../../src/cloud/tenancy/session_slide.ts";

const DAY = 86_400_000;

Deno.test("slideOnConnect: the first connect slides, the next within a minute does not write, a later one does", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-slide-" });
  const clock = new ManualClock();
  const store = await openSqliteStore({ path: `${dir}/cloud.db`, clock });
  try {
    const tenant = await store.createTenant({ name: "Acme" });
    const site = await store.createSite({ tenantId: tenant.id, name: "HQ" });
    const s = await store.createCliSession({
      hash: "5".repeat(64),
      tenantId: tenant.id,
      siteIds: [site.id],
      operator: "Ops",
      externalOperatorId: null,
      issuer: "user",
      issuerRef: "u-1",
      expiresAt: clock.now() + DAY,
      hardCapAt: clock.now() + 180 * DAY,
    });
    const d = { store, clock };

    clock.advance(1_000);
    await slideOnConnect(d, s.hash);
    const first = await store.getCliSession(s.hash);
    assert.equal(first?.lastUsedAt, clock.now(), "the first connect is recorded");
    assert.equal(first?.expiresAt, clock.now() + CLI_SLIDE_MS, "and slides the expiry");

    clock.advance(SLIDE_EVERY_MS - 1);
    await slideOnConnect(d, s.hash);
    assert.deepEqual(await store.getCliSession(s.hash), first, "no write within the minute");

    clock.advance(1);
    await slideOnConnect(d, s.hash);
    const later = await store.getCliSession(s.hash);
    assert.equal(later?.lastUsedAt, clock.now());
    assert.equal(later?.expiresAt, clock.now() + CLI_SLIDE_MS);

    // A revoked session is not brought back by a slide, throttled or not.
    await store.revokeCliSession(tenant.id, s.hash);
    clock.advance(SLIDE_EVERY_MS);
    await slideOnConnect(d, s.hash);
    assert.notEqual((await store.getCliSession(s.hash))?.revokedAt, null);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slideOnConnect: a failed write is not remembered, so the next connect writes", async () => {
  const clock = new ManualClock();
  let calls = 0;
  let fail = true;
  const store = {
    slideCliSession: () => {
      calls++;
      return fail ? Promise.reject(new Error("store unreachable")) : Promise.resolve(null);
    },
  } as unknown as Parameters<typeof slideOnConnect>[0]["store"];
  await assert.rejects(slideOnConnect({ store, clock }, "h"), /store unreachable/);
  fail = false;
  await slideOnConnect({ store, clock }, "h");
  await slideOnConnect({ store, clock }, "h");
  assert.equal(calls, 2, "retried after the failure, then throttled");
});

Deno.test("SlideThrottle: bounded, forgets slides older than a minute first, and a clock set back slides", () => {
  const t = new SlideThrottle(3);
  t.done("a", 0);
  t.done("b", 50_000);
  t.done("c", 55_000);
  t.done("d", 60_000); // full: "a" is a minute old and goes
  assert.equal(t.due("a", 60_000), true);
  assert.equal(t.due("b", 60_000), false);
  assert.equal(t.due("d", 60_001), false);
  t.done("e", 70_000); // still full of fresh ones: all forgotten, nothing grows without bound
  assert.equal(t.due("b", 70_000), true);
  assert.equal(t.due("e", 70_000), false);
  assert.equal(t.due("e", 10_000), true, "a clock set back never blocks a slide");
});
