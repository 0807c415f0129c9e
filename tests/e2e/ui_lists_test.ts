/**
 * Long lists a user must find things in: a site with 1,023 devices shows them a hundred at a time
 * with a search box, so the page stays small (it was 2.5 MB); the audit log names its targets and
 * its actor filter takes an email.
 */
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";

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
