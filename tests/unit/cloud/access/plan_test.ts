// The CLI's bind plan on a real embedded store: every device port of the session's sites (and
// nothing of a site that is gone or another tenant's), sorted by address then port, read with
// two queries however many sites the session covers.
import assert from "node:assert/strict";
import { openStore } from "../../../../src/cloud/store/open.ts";
import { buildPlan } from "../../../../src/cloud/access/plan.ts";
import { counted } from "../../../_fixtures/counted_store.ts";

Deno.test("plan: a session over 40 sites in two queries; gone and foreign sites left out", async () => {
  const dir = await Deno.makeTempDir({ prefix: "nanodems-plan-" });
  const raw = await openStore(`sqlite:${dir}/cloud.db`, dir);
  try {
    const a = await raw.createTenant({ name: "Acme" });
    const b = await raw.createTenant({ name: "Bolt" });
    const sites = [];
    for (let i = 0; i < 40; i++) {
      const s = await raw.createSite({ tenantId: a.id, name: `Store ${i}` });
      sites.push(s);
      for (let k = 0; k < 2; k++) {
        await raw.createDevice({
          tenantId: a.id,
          siteId: s.id,
          host: `192.0.2.${i * 2 + k}`,
          ports: [80, 554],
          label: k ? "" : `Door ${i}`,
          model: "",
        });
      }
    }
    const foreign = await raw.createSite({ tenantId: b.id, name: "Depot" });
    await raw.createDevice({
      tenantId: b.id,
      siteId: foreign.id,
      host: "198.51.100.1",
      ports: [80],
      label: "",
      model: "",
    });
    const { store, calls } = counted(raw);
    const plan = await buildPlan({ store }, {
      tenantId: a.id,
      siteIds: [...sites.map((s) => s.id), foreign.id, "site-gone"],
    });
    assert.equal(plan.length, 40 * 2 * 2);
    assert.deepEqual([...calls.keys()].sort(), ["getSitesById", "listDevicesOfSites"]);
    assert.ok([...calls.values()].every((n) => n === 1), "one call each");
    assert.ok(plan.every((e) => e.siteId !== foreign.id), "another tenant's site left out");
    const key = (e: { ip: string; port: number }) =>
      [...e.ip.split(".").map(Number), e.port].reduce((x, y) => x * 65536 + y, 0);
    assert.deepEqual(plan.map(key), plan.map(key).sort((x, y) => x - y), "by address, then port");
    const door = plan.find((e) => e.device === "Door 7" && e.port === 554)!;
    assert.equal(door.site, "Store 7");
    assert.equal(door.siteId, sites[7].id);
    assert.deepEqual(await buildPlan({ store }, { tenantId: a.id, siteIds: [] }), []);
  } finally {
    await raw.close();
    await Deno.remove(dir, { recursive: true });
  }
});
