// The Events page and `GET /api/events` about one site (`?site=`): a technician who looks after
// one site of many sees that site's events only — from its page's link, the page's site picker or
// the API — older pages and new events included, and nothing of another site or tenant.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

type Ev = { type: string; subject: { siteId?: string; siteName?: string } };

Deno.test("events about one site: the API and the Events page (from the site's page, the picker, live) list that site's events only; a bad id is a 400; another tenant sees none", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([9]);
    const token = q.apiToken;
    const depot = await stack.api("POST", "/api/sites", token, { name: "Depot" });
    assertEquals(depot.status, 201, JSON.stringify(depot.json));
    const depotId = depot.json.id as string;
    /** Enrolls one more agent on a site (an `enrollment.used` event about it). */
    let enrolled = 0;
    const enrollOn = async (siteId: string) => {
      const t = await stack.api("POST", `/api/sites/${siteId}/enrollment-tokens`, token, {});
      assertEquals(t.status, 201, JSON.stringify(t.json));
      const e = await stack.enroll(t.json.token as string, `agent-${++enrolled}`);
      assertEquals(e.code, 0, e.stderr);
    };
    await enrollOn(q.siteId);
    await enrollOn(depotId);
    // An event about no site (a credential revoked).
    const minted = await stack.api("POST", "/api/account/tokens", token, { name: "ci" });
    await stack.api("DELETE", `/api/account/tokens/${minted.json.id}`, token);

    const list = async (query: string) => {
      const r = await stack.api("GET", `/api/events${query}`, token);
      assertEquals(r.status, 200, JSON.stringify(r.json));
      return r.json.items as Ev[];
    };
    let all: Ev[] = [];
    for (let i = 0; i < 150 && all.length < 3; i++) {
      all = await list("");
      if (all.length < 3) await new Promise((r) => setTimeout(r, 200));
    }
    assertEquals(all.length, 3, JSON.stringify(all));
    const hq = await list(`?site=${q.siteId}`);
    assertEquals(hq.map((e) => [e.type, e.subject.siteId]), [["enrollment.used", q.siteId]]);
    const atDepot = await list(`?site=${depotId}&type=enrollment.used`);
    assertEquals(atDepot.map((e) => [e.type, e.subject.siteName]), [["enrollment.used", "Depot"]]);
    assertEquals(await list(`?site=${depotId}&type=camera.motion`), []);
    const bad = await stack.api("GET", "/api/events?site=..%2Fx", token);
    assertEquals([bad.status, bad.json.error], [400, "bad_request"]);
    assert(String(bad.json.message).includes("site: a site id"), String(bad.json.message));
    const other = await stack.quickstart([9], "Other");
    const foreign = await stack.api("GET", `/api/events?site=${q.siteId}`, other.apiToken);
    assertEquals([foreign.status, foreign.json.items], [200, []]);

    // The console: from the site's page to its events.
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/sites/${depotId}`);
    await Promise.all([page.waitForURL(/\/events\?site=/), page.click("text=This site's events")]);
    const rows = () => page.locator("#event-list tbody tr").allTextContents();
    assertEquals((await rows()).length, 1);
    assert((await rows())[0].includes("Depot"), (await rows())[0]);
    assertEquals(await page.inputValue("#events-site"), depotId);
    assertEquals(await accessibilityViolations(page), []);
    // The type links keep the site.
    const typeLinks = await page.$$eval(
      'nav[aria-label="Which events"] a',
      (as) => as.map((a) => a.getAttribute("href") ?? ""),
    );
    assert(typeLinks.every((h) => h!.includes(`site=${depotId}`)), typeLinks.join(" "));

    // Live: an event of the other site is not added; one of this site is.
    await enrollOn(q.siteId);
    await enrollOn(depotId);
    await page.waitForFunction(
      `document.querySelectorAll("#event-list tbody tr").length === 2`,
      undefined,
      { timeout: 30_000 },
    );
    assert((await rows()).every((r) => r.includes("Depot")), (await rows()).join(" | "));
    await page.waitForTimeout(500);
    assertEquals((await rows()).length, 2, "the other site's event was not added");
    await page.screenshot({ path: `${SCREENSHOTS}/events-by-site.png`, fullPage: true });

    // The picker: another site, then every site.
    await page.selectOption("#events-site", q.siteId);
    await Promise.all([page.waitForURL(new RegExp(`site=${q.siteId}`)), page.click("text=Show")]);
    assertEquals((await rows()).length, 2);
    assert((await rows()).every((r) => !r.includes("Depot")), (await rows()).join(" | "));
    await Promise.all([page.waitForURL(`${stack.url}/events`), page.click("text=Every site")]);
    assertEquals((await rows()).length, 5);
    assertEquals(await page.inputValue("#events-site"), "");
  } finally {
    await browser.close();
    await stack.stop();
  }
});
