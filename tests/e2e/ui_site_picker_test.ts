/**
 * The CLI dialog's site picker in real Chromium, for a tenant with more sites than a dialog can
 * list (60 here, past SITE_PICKER_MAX): the site page carries this site and a search, not every
 * site; typing asks the API for the matching ones, ticking one adds it, and the session made
 * covers exactly the sites ticked. A tenant with few sites still gets them all listed.
 */
import type { Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { closeContext, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";
import { SITE_PICKER_MAX } from "../../src/cloud/ui/pages/data.ts";

/** Opens `url`, signs in on the page it is sent to, and waits to be back at `url`. */
async function signIn(page: Page, url: string, user: { email: string; password: string }) {
  await page.goto(url);
  await page.fill("#email", user.email);
  await page.fill("#password", user.password);
  await Promise.all([page.waitForURL(url), page.click("button[type=submit]")]);
}

Deno.test("CLI dialog: past SITE_PICKER_MAX sites, a search adds sites; the session covers those ticked", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([22], "Picker");
    const headers = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const made = new Map<string, string>();
    for (let i = 0; i < SITE_PICKER_MAX + 9; i++) {
      const name = i % 2 ? `Warehouse ${i}` : `Depot ${i}`;
      const r = await fetch(`${stack.url}/api/sites`, {
        method: "POST",
        headers,
        body: JSON.stringify({ name }),
      });
      assertEquals(r.status, 201);
      made.set(name, (await r.json()).id);
    }
    const operator = await stack.addUser(q.tenantId, "admin");
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, `${stack.url}/sites/${q.siteId}`, operator);
    const html = await page.content();
    assert(!html.includes("Warehouse 41"), "the page does not carry every site");
    await page.click("text=Open CLI session");
    const dialog = page.locator("#cli-dialog");
    assertEquals(await dialog.locator("input[name=siteIds]").count(), 1, "this site only");
    assertStringIncludes(await dialog.textContent() ?? "", `of ${SITE_PICKER_MAX + 10}`);

    await dialog.locator("#cli-site-search").fill("warehouse 4");
    await dialog.locator("label", { hasText: "Warehouse 41" }).waitFor();
    assertEquals(
      (await dialog.locator("#cli-sites label").allTextContents()).map((t) => t.trim()).sort(),
      ["Site 1", "Warehouse 41", "Warehouse 43", "Warehouse 45", "Warehouse 47", "Warehouse 49"]
        .sort(),
    );
    await dialog.locator("label", { hasText: "Warehouse 43" }).locator("input").check();
    // A new search keeps what is ticked and replaces the rest.
    await dialog.locator("#cli-site-search").fill("depot 1");
    await dialog.locator("label", { hasText: "Depot 18" }).waitFor();
    assert(!(await dialog.textContent() ?? "").includes("Warehouse 41"), "unticked ones go");
    await dialog.locator("label", { hasText: "Depot 18" }).locator("input").check();
    await page.screenshot({ path: `${SCREENSHOTS}/ui-40-cli-site-picker.png`, fullPage: true });
    await dialog.locator("text=Create session").click();
    await page.waitForSelector("#secret-dialog[open]");

    const list = await fetch(`${stack.url}/api/sites/${q.siteId}/cli-sessions`, { headers });
    const sessions = (await list.json()).items as { siteIds: string[] }[];
    assertEquals(sessions.length, 1);
    assertEquals(
      [...sessions[0].siteIds].sort(),
      [q.siteId, made.get("Warehouse 43")!, made.get("Depot 18")!].sort(),
    );

    // The audit filter and the discovery page: the chosen site, and a search that fills the rest.
    await page.goto(`${stack.url}/audit?site=${made.get("Warehouse 43")}`);
    const options = () => page.locator("#f-site option").allTextContents();
    assertEquals(await options(), ["Any", "Warehouse 43"]);
    await page.fill("input[data-site-options=f-site]", "depot 1");
    await page.locator("#f-site option", { hasText: "Depot 18" }).waitFor({ state: "attached" });
    assertEquals(await options(), [
      "Any",
      "Warehouse 43",
      "Depot 10",
      "Depot 12",
      "Depot 14",
      "Depot 16",
      "Depot 18",
    ]);
    await page.selectOption("#f-site", made.get("Depot 14")!);
    await page.goto(`${stack.url}/discover`);
    assertEquals(await page.locator("#disc-site option").allTextContents(), ["Site 1"]);
    await page.fill("input[data-site-options=bulk-site]", "warehouse 5");
    await page.locator("#bulk-site option", { hasText: "Warehouse 57" }).waitFor({
      state: "attached",
    });
    assertEquals((await page.locator("#bulk-site option").allTextContents()).length, 6);
    await closeContext(context);

    // Few sites: every one listed, this one ticked (another tenant of 1 site).
    const few = await stack.quickstart([22], "Few");
    const fewUser = await stack.addUser(few.tenantId, "operator");
    const ctx2 = await browser.newContext();
    const p2 = await ctx2.newPage();
    await signIn(p2, `${stack.url}/sites/${few.siteId}`, fewUser);
    assertEquals(await p2.locator("#cli-site-search").count(), 0, "no search for one site");
    assertEquals(await p2.locator("#cli-dialog input[name=siteIds]:checked").count(), 1);
    await closeContext(ctx2);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
