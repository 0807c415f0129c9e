// The Events page and `GET /api/events` about one site (`?site=`): a technician who looks after
// one site of many sees that site's events only — from its page's link, the page's site picker or
// the API — older pages and new events included, and nothing of another site or tenant. And each
// user's own read state: a colleague's "Mark all read" does not empty my inbox.
import { assert, assertEquals } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import {
  accessibilityViolations,
  launchBrowser,
  SCREENSHOTS,
  signedInContext,
} from "../_fixtures/browser.ts";

type Ev = { type: string; subject: { siteId?: string; siteName?: string } };

/**
 * A tenant with two sites (the quickstart's and "Depot"), and `enrollOn(site, name)`, which
 * enrolls one more agent on a site: an `enrollment.used` event about it.
 */
async function twoSites(stack: Stack) {
  const q = await stack.quickstart([9]);
  const depot = await stack.api("POST", "/api/sites", q.apiToken, { name: "Depot" });
  assertEquals(depot.status, 201, JSON.stringify(depot.json));
  let enrolled = 0;
  const enrollOn = async (siteId: string, name = `agent-${++enrolled}`) => {
    const t = await stack.api("POST", `/api/sites/${siteId}/enrollment-tokens`, q.apiToken, {});
    assertEquals(t.status, 201, JSON.stringify(t.json));
    const e = await stack.enroll(t.json.token as string, name);
    assertEquals(e.code, 0, e.stderr);
  };
  return { q, token: q.apiToken, depotId: depot.json.id as string, enrollOn };
}

Deno.test("events about one site: the API and the Events page (from the site's page, the picker, live) list that site's events only; a bad id is a 400; another tenant sees none", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const { q, token, depotId, enrollOn } = await twoSites(stack);
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

    // Export CSV: the filter's events, a line each.
    await page.selectOption("#events-site", depotId);
    await Promise.all([page.waitForURL(new RegExp(`site=${depotId}`)), page.click("text=Show")]);
    await page.click("summary:text('Export CSV')");
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("button:text('Download CSV')"),
    ]);
    assertEquals(new URL(download.url()).search, `?site=${depotId}`);
    const csv = await Deno.readTextFile(await download.path());
    const lines = csv.trimEnd().split("\r\n");
    assertEquals(lines[0], "seq,at,type,event,subject,site,host,port,error,actor,read");
    assertEquals(lines.length, 3, csv);
    assert(
      lines.slice(1).every((l) =>
        l.includes(",enrollment.used,Enrollment token used,") &&
        l.includes(",Depot,")
      ),
      csv,
    );
    const everything = await (await fetch(`${stack.url}/events.csv`, { headers: { cookie } }))
      .text();
    assertEquals(everything.trimEnd().split("\r\n").length, 6, "every site's and the rest");
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test("read state per user: one user's Mark all read leaves a colleague's badge and rows unread; a user added later starts with nothing unread; an event after is unread for all", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([9]);
    const alice = await stack.addUser(q.tenantId, "admin");
    const bob = await stack.addUser(q.tenantId, "viewer");
    const revokeOne = async () => {
      const t = await stack.api("POST", "/api/account/tokens", q.apiToken, { name: "ci" });
      await stack.api("DELETE", `/api/account/tokens/${t.json.id}`, q.apiToken);
    };
    await revokeOne();
    await revokeOne();
    const unreadOf = async (cookie: string) => {
      const r = await fetch(`${stack.url}/api/events?limit=10`, { headers: { cookie } });
      const body = await r.json();
      assertEquals(r.status, 200, JSON.stringify(body));
      return [body.unread, body.items.filter((e: { read: boolean }) => !e.read).length];
    };
    const aliceCookie = await stack.signIn(alice.email, alice.password);
    const bobCookie = await stack.signIn(bob.email, bob.password);
    assertEquals(await unreadOf(bobCookie), [2, 2]);

    // Alice marks all read on her Events page.
    const a = await (await signedInContext(browser, stack.url, aliceCookie)).newPage();
    await a.goto(`${stack.url}/events`);
    assertEquals(await a.textContent("[data-mark-read]"), "Mark all read (2 unread)");
    await Promise.all([a.waitForEvent("load"), a.click("[data-mark-read]")]);
    await a.waitForFunction(
      `document.querySelector("[data-mark-read]")?.disabled === true`,
      undefined,
      { timeout: 30_000 },
    );
    assertEquals(await a.locator("#event-list tr.unread").count(), 0);
    assert(await a.isHidden("[data-unread]"), "her badge is gone");
    assertEquals(await unreadOf(aliceCookie), [0, 0]);

    // Bob's inbox is untouched: his badge, his bold rows, the API.
    const b = await (await signedInContext(browser, stack.url, bobCookie)).newPage();
    await b.goto(`${stack.url}/events`);
    assertEquals(await b.locator("#event-list tr.unread").count(), 2);
    await b.waitForFunction(
      `document.querySelector("[data-unread]")?.textContent === "2"`,
      undefined,
      { timeout: 30_000 },
    );
    assertEquals(await unreadOf(bobCookie), [2, 2]);

    // Carol joins now: what happened before her is not unread for her.
    const carol = await stack.addUser(q.tenantId, "viewer");
    const carolCookie = await stack.signIn(carol.email, carol.password);
    assertEquals(await unreadOf(carolCookie), [0, 0]);

    // A new event is unread for everyone, and both open pages' badges follow.
    await revokeOne();
    await a.waitForFunction(
      `document.querySelector("[data-unread]")?.textContent === "1"`,
      undefined,
      { timeout: 30_000 },
    );
    await b.waitForFunction(
      `document.querySelector("[data-unread]")?.textContent === "3"`,
      undefined,
      { timeout: 30_000 },
    );
    assertEquals(await unreadOf(carolCookie), [1, 1]);
    assertEquals(await accessibilityViolations(b), []);
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test("Mark these read on a filtered Events page: that site's events only; the rest stay unread (Unread only shows them); a new one of the site enables it again; the API's filter and its refusals", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const { q, token, depotId, enrollOn } = await twoSites(stack);
    await enrollOn(q.siteId, "hq-1");
    await enrollOn(depotId, "depot-1");
    await enrollOn(depotId, "depot-2");
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const unread = async (query: string) => {
      const r = await fetch(`${stack.url}/api/events${query}`, { headers: { cookie } });
      const body = await r.json();
      assertEquals(r.status, 200, JSON.stringify(body));
      return [body.unread, body.items.filter((e: { read: boolean }) => !e.read).length];
    };
    // The admin was added after those events: a later one each, unread for the admin.
    await enrollOn(q.siteId, "hq-2");
    await enrollOn(depotId, "depot-3");
    await enrollOn(depotId, "depot-4");
    assertEquals(await unread(""), [3, 3]);

    const page = await (await signedInContext(browser, stack.url, cookie)).newPage();
    await page.goto(`${stack.url}/events?site=${depotId}`);
    const mark = page.locator("[data-mark-read]");
    assertEquals((await mark.textContent())?.trim(), "Mark these read");
    assertEquals(await mark.isEnabled(), true);
    assertEquals(await page.locator("#event-list tr.unread").count(), 2);
    await Promise.all([page.waitForEvent("load"), mark.click()]);
    await page.waitForSelector("text=2 events marked read", { timeout: 30_000 });
    assertEquals(await page.locator("#event-list tr.unread").count(), 0);
    assertEquals(await mark.isEnabled(), false);
    // HQ's is still unread: the badge, the API, the unfiltered page's button.
    await page.waitForFunction(
      `document.querySelector("[data-unread]")?.textContent === "1"`,
      undefined,
      { timeout: 30_000 },
    );
    assertEquals(await unread(""), [1, 1]);
    assertEquals(await unread(`?site=${depotId}`), [1, 0]);
    // Unread only: HQ's one, with every site; the toggle back shows all of the admin's three.
    await page.goto(`${stack.url}/events`);
    await Promise.all([page.waitForURL(/unread=1/), page.click("text=Unread only")]);
    const shown = await page.locator("#event-list tbody tr").allTextContents();
    assertEquals(shown.length, 1, shown.join(" | "));
    assert(!shown[0].includes("Depot"), shown[0]);
    assertEquals(await page.getAttribute(".unread-toggle", "aria-pressed"), "true");
    await page.selectOption("#events-site", depotId);
    await Promise.all([page.waitForURL(/site=/), page.click("text=Show")]);
    assertEquals(new URL(page.url()).searchParams.get("unread"), "1", "the picker keeps it");
    assert((await page.textContent("main"))!.includes("Nothing unread here."));
    await Promise.all([page.waitForURL(/events\?site=[^&]+$/), page.click(".unread-toggle")]);
    assertEquals(await page.locator("#event-list tbody tr").count(), 4, "all four of the depot");
    await page.goto(`${stack.url}/events?site=${depotId}`);

    // A new event of this site: added live, and the button can mark it.
    await enrollOn(depotId, "depot-5");
    await page.waitForFunction(
      `document.querySelector("[data-mark-read]")?.disabled === false`,
      undefined,
      { timeout: 30_000 },
    );
    assertEquals(await page.locator("#event-list tr.unread").count(), 1);
    assertEquals(await accessibilityViolations(page), []);
    await page.goto(`${stack.url}/events`);
    assertEquals(
      (await page.locator("[data-mark-read]").textContent())?.trim(),
      "Mark all read (2 unread)",
    );

    // The API: a filter marks the token's own unread events of it (the token reads as its user,
    // who saw all seven events arrive), and says whether more are left.
    const post = (body: unknown, t = token) => stack.api("POST", "/api/events/read", t, body);
    const byHq = await post({ site: q.siteId, type: "enrollment.used" });
    assertEquals([byHq.status, byHq.json], [200, { marked: 2, more: false, unread: 5 }]);
    const again = await post({ site: q.siteId });
    assertEquals(again.json.marked, 0);
    // seqs and a filter together, an unknown type, a bad site id: 400s that say why.
    const both = await post({ seqs: [1], site: depotId });
    assertEquals([both.status, both.json.error], [400, "bad_request"]);
    assert(String(both.json.message).includes("not both"), String(both.json.message));
    const badType = await post({ type: "camera.sneeze" });
    assertEquals([badType.status, badType.json.error], [400, "bad_request"]);
    assert(String(badType.json.message).includes("camera.sneeze"), String(badType.json.message));
    const badSite = await post({ site: "../x" });
    assertEquals(badSite.status, 400);
    // Another tenant naming this tenant's site marks nothing, here or there.
    const other = await stack.quickstart([9], "Other");
    const foreign = await post({ site: depotId }, other.apiToken);
    assertEquals([foreign.status, foreign.json.marked], [200, 0]);
    assertEquals((await post({ site: depotId })).json, { marked: 5, more: false, unread: 0 });
  } finally {
    await browser.close();
    await stack.stop();
  }
});

Deno.test("Export CSV of a time range: the viewer's local From and To (Tokyo) become instants; exact to the millisecond through the address; a second export from the same page; a range that is not one is a 400", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const { q, depotId, enrollOn } = await twoSites(stack);
    await enrollOn(depotId, "depot-1");
    await new Promise((r) => setTimeout(r, 20));
    const between = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await enrollOn(depotId, "depot-2");
    await enrollOn(q.siteId, "hq-1");
    const admin = await stack.addUser(q.tenantId, "admin");
    const cookie = await stack.signIn(admin.email, admin.password);
    const csvLines = (csv: string) => csv.trimEnd().split("\r\n").slice(1);
    const get = async (query: string) => {
      const r = await fetch(`${stack.url}/events.csv${query}`, { headers: { cookie } });
      return { status: r.status, text: await r.text() };
    };

    // Through the address, to the millisecond: from the instant between the two depot events.
    const after = await get(`?site=${depotId}&from=${new Date(between).toISOString()}`);
    assertEquals(after.status, 200);
    assertEquals(csvLines(after.text).length, 1, after.text);
    assert(csvLines(after.text)[0].includes(",Depot,"), after.text);
    const before = await get(`?site=${depotId}&to=${new Date(between).toISOString()}`);
    assertEquals(csvLines(before.text).length, 1, before.text);
    assertEquals(
      (await get(`?from=${new Date(between).toISOString()}`)).text.split("\r\n")
        .filter(Boolean).length,
      3,
      "both sites' events after it, and the header",
    );

    // In the browser, in Tokyo (UTC+9): From and To are local times of the viewer.
    const context = await signedInContext(browser, stack.url, cookie, { timezoneId: "Asia/Tokyo" });
    const page = await context.newPage();
    await page.goto(`${stack.url}/events?site=${depotId}`);
    const tokyo = (ms: number) => new Date(ms + 9 * 3_600_000).toISOString().slice(0, 16);
    await page.click("summary:text('Export CSV')");
    assertEquals(
      await page.textContent(".events-export p"),
      "The newest 10,000 events this filter shows, of the time range if given (your time zone).",
    );
    const exportCsv = async (from: number, to: number) => {
      await page.fill("#export-from", tokyo(from));
      await page.fill("#export-to", tokyo(to));
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("button:text('Download CSV')"),
      ]);
      return csvLines(await Deno.readTextFile(await download.path()));
    };
    // The last hour to the next (read as UTC, these would be 9 hours ahead: none).
    const hour = 3_600_000;
    assertEquals((await exportCsv(Date.now() - hour, Date.now() + hour)).length, 2);
    // Again from the same page: the next hour only, which holds nothing yet.
    assertEquals(await exportCsv(Date.now() + hour, Date.now() + 2 * hour), []);
    await page.screenshot({ path: `${SCREENSHOTS}/events-export.png`, fullPage: true });
    assertEquals(await accessibilityViolations(page), []);

    // A time that is not one: a 400 that says so, not every event.
    const bad = await get("?from=yesterday");
    assertEquals(bad.status, 400);
    assert(bad.text.includes("From and To must be dates and times"), bad.text);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
