/**
 * The console's layout and times in real Chromium (issue 14 items 21/22): times are shown in the
 * viewer's time zone in the console's one format (UTC without JavaScript), relative ones with
 * the exact local time on hover; at 390 px every action button of the sites, devices, agents,
 * audit, team and tokens pages lies inside the viewport (tables reflow or scroll inside their
 * container, their actions column stays in view); a superadmin's navigation is one line at
 * 1280 px. Screenshots under out/screenshots/ui-layout-*; axe-core stays clean.
 */
import type { Browser, Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { accessibilityViolations, launchBrowser, SCREENSHOTS } from "../_fixtures/browser.ts";

async function signedIn(
  browser: Browser,
  url: string,
  who: { email: string; password: string },
  options: { width: number; timezoneId?: string },
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: options.width, height: 900 },
    timezoneId: options.timezoneId,
  });
  const page = await context.newPage();
  await page.goto(`${url}/`);
  await page.fill("#email", who.email);
  await page.fill("#password", who.password);
  await Promise.all([page.waitForURL(`${url}/`), page.click("button[type=submit]")]);
  return page;
}

/** `2026-12-02 00:04 GMT+9`: the console's format for a UTC+9 viewer. */
function tokyo(iso: string): string {
  const d = new Date(Date.parse(iso) + 9 * 3600_000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)} GMT+9`;
}

Deno.test("console layout: local times, nothing clipped at 390 px, one-line superadmin nav at 1280 px", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const q = await stack.quickstart([22, 80, 554, 8000]);
    const e = await stack.enroll(q.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    await stack.runAgent(e.state);
    const auth = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const post = async (path: string, body: unknown) => {
      const r = await fetch(`${stack.url}${path}`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify(body),
      });
      assert(r.status < 300, `${path}: ${r.status} ${await r.text()}`);
    };
    await post(`/api/sites/${q.siteId}/devices`, {
      host: "camera-with-a-rather-long-host-name.warehouse.example.net",
      ports: [80, 443, 554, 8000, 8443, 8554],
      label: "North loading dock, camera above the second gate",
      manufacturer: "Hikvision",
      model: "DS-2CD2387G2-LU",
    });
    await post("/api/cli/sessions", { siteIds: [q.siteId] });
    await post("/api/users", { email: "someone.with.a.long.address@example.com", role: "viewer" });
    const admin = await stack.addUser(q.tenantId, "admin");
    const root = await stack.addUser(q.tenantId, "superadmin");

    // Times: the audit log in Tokyo time, in the console's format; hover gives the exact local time.
    const tz = await signedIn(browser, stack.url, admin, { width: 1280, timezoneId: "Asia/Tokyo" });
    await tz.goto(`${stack.url}/account/tokens`);
    await tz.fill("#token-name", "layout test");
    await tz.click("text=Create token");
    await tz.waitForSelector("#secret-dialog[open]");
    // Closing the one-shot secret reloads the page: wait for that before moving on.
    await Promise.all([tz.waitForNavigation(), tz.click("#secret-dialog >> text=Done")]);
    await tz.goto(`${stack.url}/audit`);
    const first = tz.locator("main time[data-local]").first();
    const iso = (await first.getAttribute("datetime"))!;
    assertEquals(await first.textContent(), tokyo(iso));
    const ago = tz.locator("main time:not([data-local])").first();
    assertEquals(await ago.getAttribute("title"), tokyo((await ago.getAttribute("datetime"))!));
    await tz.screenshot({ path: `${SCREENSHOTS}/ui-layout-audit-tokyo.png`, fullPage: true });
    // A From in Tokyo time is sent as its instant; an empty To is left out of the address.
    await tz.fill("#f-from", "2026-03-01T09:30");
    await Promise.all([tz.waitForURL(/from=/), tz.click("text=Filter")]);
    const sent = new URL(tz.url()).searchParams;
    assertEquals(sent.get("from"), "2026-03-01T00:30:00.000Z");
    assertEquals(sent.has("to"), false);
    assertEquals(await tz.inputValue("#f-from"), "2026-03-01T09:30");
    // The same page without JavaScript: UTC, said so.
    const cookie = await stack.signIn(admin.email, admin.password);
    const html = await (await fetch(`${stack.url}/audit`, { headers: { cookie } })).text();
    const m = /<time datetime="([^"]+)" data-local="true"\s*>([^<]+)<\/time>/.exec(html);
    assert(m, "an absolute time in the audit log");
    assertEquals(m[2], `${m[1].slice(0, 10)} ${m[1].slice(11, 16)} UTC`);
    await tz.context().close();

    // 390 px: every action button inside the viewport, on every list page.
    const narrow = await signedIn(browser, stack.url, admin, { width: 390 });
    for (
      const [path, name] of [
        ["/sites", "sites"],
        [`/sites/${q.siteId}`, "devices"],
        ["/agents", "agents"],
        ["/audit", "audit"],
        ["/team", "team"],
        ["/account/tokens", "tokens"],
      ]
    ) {
      await narrow.goto(`${stack.url}${path}`);
      const boxes = await narrow.locator("main button, main a.button").evaluateAll((els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect();
          return { text: (el.textContent ?? "").trim().slice(0, 30), left: r.left, right: r.right };
        }).filter((b) => b.right > b.left) // hidden (closed dialogs) have no box
      );
      assert(boxes.length > 0, `${path}: no buttons`);
      const width = (await narrow.evaluate("document.documentElement.clientWidth")) as number;
      const clipped = boxes.filter((b) => b.left < 0 || b.right > width + 0.5);
      assertEquals(clipped, [], `${path}: action buttons outside the ${width} px viewport`);
      const pageWidth = (await narrow.evaluate("document.documentElement.scrollWidth")) as number;
      assert(pageWidth <= width, `${path}: the page scrolls sideways (${pageWidth} px)`);
      await narrow.screenshot({ path: `${SCREENSHOTS}/ui-layout-390-${name}.png`, fullPage: true });
      assertEquals(await accessibilityViolations(narrow), [], `accessibility of ${path} at 390 px`);
    }
    await narrow.context().close();

    // 1280 px: a superadmin's navigation (with the tenant picker) is one line.
    const wide = await signedIn(browser, stack.url, root, { width: 1280 });
    const nav = await wide.evaluate(`(() => {
      const h = (sel) => document.querySelector(sel).getBoundingClientRect().height;
      return { nav: h("nav[aria-label=Main]"), link: h("nav[aria-label=Main] a"), header: h("header.top") };
    })()`) as { nav: number; link: number; header: number };
    assertEquals(Math.round(nav.nav), Math.round(nav.link), `nav wraps: ${JSON.stringify(nav)}`);
    assert(nav.header < 2 * nav.link + 24, `the header wraps: ${JSON.stringify(nav)}`);
    assertStringIncludes(await wide.textContent("nav[aria-label=Main]") ?? "", "Licenses");
    await wide.screenshot({ path: `${SCREENSHOTS}/ui-layout-1280-superadmin.png` });
    await wide.context().close();
  } finally {
    await browser.close();
    await stack.stop();
  }
});
