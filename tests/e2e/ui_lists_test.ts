/**
 * Long lists a user must find things in: a site with 1,023 devices shows them a hundred at a time
 * with a search box, so the page stays small (it was 2.5 MB); a site with 10,000 devices (seeded
 * through the store) answers one page of rows on every list; the audit log names its targets and
 * its actor filter takes an email; a tenant of 1,234 agents gets its agents list a page at a time.
 * Timings are printed, never asserted (see `deno task bench`).
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { seedAgents, seedDevices } from "../_fixtures/seed.ts";

Deno.test("site page: 1,023 devices paged 100 at a time, searchable", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const add = await fetch(`${stack.url}/api/sites/${q.siteId}/devices/bulk`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ range: "10.0.0.1-10.0.3.254", ports: [80, 554] }),
    });
    assertEquals(add.status, 201);
    assertEquals((await add.json()).created.length, 1022);
    const admin = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(admin.email, admin.password);
    const get = async (query: string) => {
      const started = performance.now();
      const res = await fetch(`${stack.url}/sites/${q.siteId}${query}`, { headers: { cookie } });
      const html = await res.text();
      return { status: res.status, html, ms: performance.now() - started };
    };
    const first = await get("");
    assertEquals(first.status, 200);
    assertEquals((first.html.match(/<tr data-device=/g) ?? []).length, 100);
    assertStringIncludes(first.html, "Showing 1–100 of 1023");
    assert(first.html.length < 400_000, `page is ${first.html.length} bytes`);
    const last = await get("?page=11");
    assertEquals((last.html.match(/<tr data-device=/g) ?? []).length, 23);
    assertStringIncludes(last.html, "Showing 1001–1023 of 1023");
    const beyond = await get("?page=99");
    assertStringIncludes(beyond.html, "Showing 1001–1023 of 1023");
    const huge = await get("?page=1e308");
    assertEquals(huge.status, 200, "a page number past every offset is the last page");
    assertStringIncludes(huge.html, "Showing 1001–1023 of 1023");
    const found = await get("?q=10.0.3.254");
    assertEquals((found.html.match(/<tr data-device=/g) ?? []).length, 1);
    assertStringIncludes(found.html, "matching &quot;10.0.3.254&quot;");
    const none = await get("?q=nothing-like-this");
    assertStringIncludes(none.html, "No device matches &quot;nothing-like-this&quot;");
    console.log(
      `site page with 1,023 devices: first page ${
        first.ms.toFixed(0)
      } ms, ${first.html.length} bytes`,
    );
  } finally {
    await stack.stop();
  }
});

Deno.test("10,000 devices: every list answers one page of rows, the site page stays small", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const seeded = await seedDevices(stack, q.tenantId, q.siteId, 10_000);
    // An admin: the largest page (every row with its edit, credentials and remove buttons).
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const timings: string[] = [];
    const get = async (path: string, headers: Record<string, string> = { cookie }) => {
      const started = performance.now();
      const res = await fetch(`${stack.url}${path}`, { headers });
      const body = await res.text();
      timings.push(`${path}: ${(performance.now() - started).toFixed(0)} ms`);
      assertEquals(res.status, 200, `${path}: ${body.slice(0, 200)}`);
      return body;
    };
    const rows = (html: string) => (html.match(/<tr data-device=/g) ?? []).length;

    const first = await get(`/sites/${q.siteId}`);
    assertEquals(rows(first), 100);
    assertStringIncludes(first, "Showing 1–100 of 10001");
    assert(first.length < 200_000, `the first page is ${first.length} bytes`);
    const middle = await get(`/sites/${q.siteId}?page=57`);
    assertEquals(rows(middle), 100);
    assertStringIncludes(middle, "Showing 5601–5700 of 10001");
    assert(middle.length < 200_000, `page 57 is ${middle.length} bytes`);
    const last = await get(`/sites/${q.siteId}?page=101`);
    assertEquals(rows(last), 1);
    const found = await get(`/sites/${q.siteId}?q=${encodeURIComponent("gate 999")}`);
    assertStringIncludes(found, "Gate 9990");
    assertEquals(rows(found), 1, "only every tenth device is named: Gate 9990");
    const byPort = await get(`/sites/${q.siteId}?q=22`);
    assertStringIncludes(byPort, `data-device="${q.device.deviceId}"`, "found by its port 22");

    const sites = await get("/sites");
    assertStringIncludes(sites, "<td>10001</td>");
    assertStringIncludes(await get("/"), ">10001<");
    await get("/agents");
    await get("/ui/fragments/agents");

    // The API pages in the query too.
    const auth = { authorization: `Bearer ${q.apiToken}` };
    const api = JSON.parse(await get(`/api/sites/${q.siteId}/devices?limit=50&cursor=9990`, auth));
    assertEquals(api.items.length, 11);
    assertEquals(api.total, 10001);
    assertEquals(api.next, null);
    const search = JSON.parse(await get(`/api/sites/${q.siteId}/devices?q=10.0.39.15`, auth));
    assertEquals(search.items.map((d: { host: string }) => d.host), ["10.0.39.15"]);
    console.log(`seeded 10,000 devices in ${seeded.toFixed(0)} ms; ${timings.join("; ")}`);
  } finally {
    await stack.stop();
  }
});

Deno.test("1,234 agents: the agents list pages 100 at a time and searches in the store; the dashboard, sites and API count without reading every agent", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    await stack.agentFor(q); // one real agent, online, the oldest
    const headers = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const site = async (name: string) => {
      const r = await fetch(`${stack.url}/api/sites`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name }),
      });
      assertEquals(r.status, 201);
      return (await r.json()).id as string;
    };
    const north = await site("Depot North");
    const south = await site("Depot South");
    for (let i = 0; i < 118; i++) await site(`Store ${i}`);
    // Round-robin over three sites; 150 online with 2 streams each; the last 4 revoked.
    const seeded = await seedAgents(stack, q.tenantId, [q.siteId, north, south], 1_234, {
      online: 150,
      revoked: 4,
      bytesUp: 3 * 1024 * 1024,
    });
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const timings: string[] = [];
    const get = async (path: string, h: Record<string, string> = { cookie }) => {
      const started = performance.now();
      const res = await fetch(`${stack.url}${path}`, { headers: h });
      const body = await res.text();
      timings.push(`${path}: ${(performance.now() - started).toFixed(0)} ms`);
      assertEquals(res.status, 200, `${path}: ${body.slice(0, 200)}`);
      return body;
    };
    const rows = (html: string) => (html.match(/<tr data-agent=/g) ?? []).length;

    // 1 real + 1,230 seeded agents not revoked: 13 pages of 100, oldest first.
    const first = await get("/agents");
    assertEquals(rows(first), 100);
    assertStringIncludes(first, "Showing 1–100 of 1231");
    assertStringIncludes(first, 'href="/agents?page=2"');
    assertEquals((first.match(/<dialog id="rename-agent-/g) ?? []).length, 100, "one page's");
    assert(!first.includes("ag-seed-01230"), "revoked agents are not listed");
    // A page's sparklines come from one read of its agents' hours.
    assertEquals(
      (first.match(/aria-label="3\.0 MiB in the last 24 hours"/g) ?? []).length,
      99,
      "the 99 seeded agents on page 1 are online and sent 3 MiB this hour",
    );
    const second = await get("/agents?page=2");
    assertStringIncludes(second, "Showing 101–200 of 1231");
    assertStringIncludes(second, 'data-poll="/ui/fragments/agents?page=2"', "polls its own page");
    assertStringIncludes(second, "ag-seed-00100", "the 101st agent is the 100th seeded");
    const last = await get("/agents?page=13");
    assertEquals(rows(last), 31);
    assertStringIncludes(last, "Showing 1201–1231 of 1231");
    assertStringIncludes(await get("/agents?page=99"), "Showing 1201–1231 of 1231");
    assertStringIncludes(await get("/agents?page=1e308"), "Showing 1201–1231 of 1231");
    assertStringIncludes(await get("/agents?page=-4"), "Showing 1–100 of 1231");
    const fragment = await get("/ui/fragments/agents?page=2");
    assertEquals(rows(fragment), 100);
    assertStringIncludes(fragment, "Showing 101–200 of 1231");

    // Searched in the store: host name, site name; none.
    const gates = await get("/agents?q=gate-12");
    assertEquals(rows(gates), 4, "gate-120, -1200, -1210, -1220 (gate-1230 is revoked)");
    assertStringIncludes(gates, "Showing 1–4 of 4 matching &quot;gate-12&quot;");
    const bySite = await get(`/agents?q=${encodeURIComponent("depot north")}`);
    assertStringIncludes(bySite, "Showing 1–100 of 410 matching &quot;depot north&quot;");
    assertStringIncludes(await get("/ui/fragments/agents?q=nothing"), "No agent matches");

    // Counted in the store: 151 online (150 seeded + the real one), 300 streams.
    const dash = await get("/ui/fragments/dashboard");
    assertStringIncludes(dash, '<div class="stat" id="stat-online">151</div>');
    assertStringIncludes(dash, '<div class="stat" id="stat-offline">1080</div>');
    assertStringIncludes(dash, '<div class="stat" id="stat-streams">300</div>');
    assertStringIncludes(dash, '<div class="stat" id="stat-sites">121</div>');
    const sites = await get("/sites");
    assertStringIncludes(sites, "<td>51 / 411</td>", "the quickstart's site");
    assertStringIncludes(sites, "<td>50 / 410</td>", "each depot");
    const siteRows = (html: string) => (html.match(/<a href="\/sites\/site-/g) ?? []).length;
    assertEquals(siteRows(sites), 100);
    assertStringIncludes(sites, "Showing 1–100 of 121");
    const sites2 = await get("/sites?page=2");
    assertEquals(siteRows(sites2), 21);
    assertStringIncludes(sites2, "Showing 101–121 of 121");
    const depots = await get("/sites?q=DEPOT");
    assertEquals(siteRows(depots), 2);
    assertStringIncludes(depots, "Showing 1–2 of 2 matching &quot;DEPOT&quot;");
    assertStringIncludes(await get("/sites?q=nothing"), "No site matches &quot;nothing&quot;");

    // The API pages in the query; revoked agents are listed there.
    const auth = { authorization: `Bearer ${q.apiToken}` };
    const head = JSON.parse(await get("/api/agents?limit=100", auth));
    assertEquals(head.items.length, 100);
    assertEquals(head.next, 100);
    assertEquals(head.items[0].online, true, "the real agent");
    assertEquals(head.items[1].id, "ag-seed-00000");
    assertEquals(head.items[1].activeStreams, 2);
    const tail = JSON.parse(await get("/api/agents?limit=50&cursor=1200", auth));
    assertEquals(tail.items.length, 35);
    assertEquals(tail.next, null);
    assertEquals(tail.items.filter((a: { revokedAt: number | null }) => a.revokedAt).length, 4);
    assertEquals(head.total, 1_235);
    const found = JSON.parse(await get("/api/agents?q=GATE-12&limit=2", auth));
    assertEquals(found.total, 5, "gate-120, -1200, -1210, -1220 and the revoked gate-1230");
    assertEquals(found.items.map((a: { hostname: string }) => a.hostname), [
      "gate-120",
      "gate-1200",
    ]);
    assertEquals(found.next, 2);
    const apiSites = JSON.parse(await get("/api/sites?limit=50&cursor=100", auth));
    assertEquals([apiSites.items.length, apiSites.total, apiSites.next], [21, 121, null]);
    const apiNorth = JSON.parse(await get("/api/sites?q=north", auth));
    assertEquals(apiNorth.items.map((x: { id: string }) => x.id), [north]);
    console.log(`seeded 1,234 agents in ${seeded.toFixed(0)} ms; ${timings.join("; ")}`);
  } finally {
    await stack.stop();
  }
});

Deno.test("audit log: targets shown by name, the actor filter takes an email; sites and agents searchable", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const headers = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const patched = await fetch(`${stack.url}/api/devices/${q.device.deviceId}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ label: "Front door" }),
    });
    assertEquals(patched.status, 200);
    await patched.body?.cancel();
    const renamed = await fetch(`${stack.url}/api/sites/${q.siteId}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ name: "Warehouse" }),
    });
    assertEquals(renamed.status, 200);
    await renamed.body?.cancel();
    const me = await stack.admin<{ users: { email: string }[] }>(
      "user",
      "list",
      "--tenant",
      q.tenantId,
    );
    const viewer = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(viewer.email, viewer.password);
    const page = await (await fetch(
      `${stack.url}/audit?actor=${encodeURIComponent(me.users[0].email)}`,
      { headers: { cookie } },
    )).text();
    assertStringIncludes(page, "site.rename");
    assertStringIncludes(page, "Warehouse");
    assertStringIncludes(page, "Front door");
    assert(!page.includes("auth.login"), "the viewer's own sign-in is filtered out");
    const nobody = await (await fetch(`${stack.url}/audit?actor=nobody%40example.com`, {
      headers: { cookie },
    })).text();
    assert(!nobody.includes("site.rename"), "an unknown email matches nothing");

    // Sites and agents have a search box too.
    for (let i = 0; i < 11; i++) {
      const r = await fetch(`${stack.url}/api/sites`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name: `Depot ${i}` }),
      });
      await r.body?.cancel();
    }
    const sites = await (await fetch(`${stack.url}/sites?q=wareh`, { headers: { cookie } })).text();
    assertStringIncludes(sites, 'aria-label="Find sites"');
    assertStringIncludes(sites, ">Warehouse</a>");
    assert(!sites.includes("Depot 3"), "only matching sites");
    const agents = await (await fetch(`${stack.url}/ui/fragments/agents?q=nothing`, {
      headers: { cookie },
    })).text();
    assertStringIncludes(agents, "No agent matches");
  } finally {
    await stack.stop();
  }
});
