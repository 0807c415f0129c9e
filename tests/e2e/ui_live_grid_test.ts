// A site's live grid past 16 cameras, against a real cloud: before, `/sites/{id}/live` showed the
// first 16 RTSP cameras and said "(first 16 of 21)" with no way to the others. Now it says which
// cameras a page shows, of how many, and links to the next and previous pages (keeping the
// chosen stream path); every camera is on exactly one page, a page number past the last shows
// the last, and a site of one camera shows it without any of that. On a wall monitor the pages
// turn by themselves (`?cycle=`), the last to the first; a tile put on the whole screen (its
// "Full screen", or a double click) holds the page until it leaves.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { until } from "../_fixtures/until.ts";
import { accessibilityViolations, launchBrowser, signedInContext } from "../_fixtures/browser.ts";

Deno.test("live grid: a site of 21 cameras in pages of 16, every camera on one page", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([554]); // one camera: the quickstart's device
    const u = await stack.addUser(q.tenantId, "viewer");
    const cookie = await stack.signIn(u.email, u.password);
    const grid = async (query = "") => {
      const res = await fetch(`${stack.url}/sites/${q.siteId}/live${query}`, {
        headers: { cookie },
      });
      assertEquals(res.status, 200);
      const html = await res.text();
      return {
        html,
        tiles: [...html.matchAll(/data-live="([^"]+)"/g)].map((m) => m[1]),
        range: /id="grid-range"[^>]*>([\s\S]*?)<\/p>/.exec(html)![1].replace(/<[^>]+>/g, ""),
        links: [...html.matchAll(/href="(\/sites\/[^"]+\/live\?[^"]+)"/g)].map((m) =>
          m[1].replaceAll("&amp;", "&")
        ),
      };
    };

    const one = await grid();
    assertEquals(one.tiles, [q.device.handles[554]]);
    assert(one.range.includes("1 camera(s)"), one.range);
    assertEquals(one.links, [], "one page: no page links");

    // 20 more cameras (RTSP on 554), added as an operator does: a range of addresses.
    const bulk = await fetch(`${stack.url}/api/sites/${q.siteId}/devices/bulk`, {
      method: "POST",
      headers: { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" },
      body: JSON.stringify({ range: "127.0.0.10-127.0.0.29", ports: [554] }),
    });
    assertEquals(bulk.status, 201, await bulk.clone().text());
    await bulk.body?.cancel();

    const first = await grid("?path=/Streaming/Channels/101");
    assertEquals(first.tiles.length, 16);
    assert(first.range.includes("cameras 1–16 of 21"), first.range);
    assertEquals(first.links, [
      `/sites/${q.siteId}/live?path=%2FStreaming%2FChannels%2F101&page=2`,
    ], "Next, keeping the stream path");
    assert(first.html.includes('data-path="/Streaming/Channels/101"'));

    const second = await grid(first.links[0].slice(first.links[0].indexOf("?")));
    assertEquals(second.tiles.length, 5);
    assert(second.range.includes("cameras 17–21 of 21"), second.range);
    assertEquals(second.links, [
      `/sites/${q.siteId}/live?path=%2FStreaming%2FChannels%2F101&page=1`,
    ], "Previous only");
    const all = [...first.tiles, ...second.tiles];
    assertEquals(new Set(all).size, 21, "every camera on exactly one page");
    assert(all.includes(q.device.handles[554]));

    assertEquals((await grid("?page=99")).tiles, second.tiles, "past the last: the last");
    assertEquals((await grid("?page=-3")).tiles, (await grid()).tiles, "below 1: the first");
  } finally {
    await stack.stop();
  }
});

Deno.test("live grid on a wall monitor: the pages turn by themselves (?cycle=), the last to the first, chosen on the page", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([554]);
    const bulk = await stack.api("POST", `/api/sites/${q.siteId}/devices/bulk`, q.apiToken, {
      range: "127.0.0.10-127.0.0.29",
      ports: [554],
    });
    assertEquals(bulk.status, 201, JSON.stringify(bulk.json));
    const u = await stack.addUser(q.tenantId, "viewer");
    const context = await signedInContext(
      browser,
      stack.url,
      await stack.signIn(u.email, u.password),
    );
    const page = await context.newPage();
    const pageOf = () => new URL(page.url()).searchParams;
    // Chosen on the page: kept in the address.
    await page.goto(`${stack.url}/sites/${q.siteId}/live`);
    assertEquals(await page.inputValue("#grid-cycle"), "0");
    await Promise.all([
      page.waitForURL(/cycle=10/),
      page.selectOption("#grid-cycle", "10"),
    ]);
    assertEquals(await page.inputValue("#grid-cycle"), "10");
    assertEquals(await accessibilityViolations(page), []);
    // Every 5 s (asked in the address): page 2, then back to page 1, the turn kept.
    await page.goto(`${stack.url}/sites/${q.siteId}/live?cycle=5`);
    assertEquals(await page.inputValue("#grid-cycle"), "5", "a turn not offered is shown");
    await page.waitForURL((u) => u.searchParams.get("page") === "2", { timeout: 20_000 });
    assertEquals([pageOf().get("cycle"), await page.locator("video[data-live]").count()], ["5", 5]);
    await page.waitForURL((u) => u.searchParams.get("page") === "1", { timeout: 20_000 });
    assertEquals(await page.locator("video[data-live]").count(), 16);
    // A tile on the whole screen ("Full screen" in its caption) holds the page past its turn;
    // once it leaves, the page turns.
    const third = page.locator(".live-tile").nth(2);
    const handle = await third.locator("video").getAttribute("data-live");
    await third.locator("[data-tile-full-screen]").click();
    const fullOf = () =>
      page.evaluate(`document.fullscreenElement?.querySelector("video")?.dataset.live ?? null`);
    await until("the tile on the whole screen", async () => await fullOf() === handle);
    await new Promise((r) => setTimeout(r, 6_000));
    assertEquals([pageOf().get("page"), await fullOf()], ["1", handle], "held past its turn");
    await Promise.all([
      page.waitForURL((u) => u.searchParams.get("page") === "2", { timeout: 20_000 }),
      page.evaluate("document.exitFullscreen()"),
    ]);
    // A double click on a tile's picture: the whole screen; again: back to the grid.
    await page.locator(".live-tile video").first().dblclick();
    await until("a double-clicked tile on the whole screen", async () => await fullOf() !== null);
    await page.locator(".live-tile video").first().dblclick();
    await until("back to the grid", async () => await fullOf() === null);
    // Turned off: the address forgets it. A turn out of range is none.
    await Promise.all([
      page.waitForURL((u) => !u.searchParams.has("cycle")),
      page.selectOption("#grid-cycle", "0"),
    ]);
    await page.goto(`${stack.url}/sites/${q.siteId}/live?cycle=1`);
    assertEquals(await page.inputValue("#grid-cycle"), "0");
  } finally {
    await browser.close();
    await stack.stop();
  }
});
