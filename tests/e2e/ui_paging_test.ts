/**
 * A site with 1,023 devices: the site page shows them a hundred at a time with a search box, so
 * the page stays small (it was 2.5 MB); search finds one device by address, paging walks on.
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
