/**
 * The console bugs a new operator hit in the first hour, in real Chromium at 1280 and 390 px:
 * "Add by address" on the Discover page lands on the site (not a raw JSON 404) and its toast
 * survives the page change; a duplicate add says what was skipped and why; an unknown address gets
 * the console's own 404 page; /favicon.ico exists; /licenses tells an admin who may see it (403);
 * signing out is audited; devices and sites are renamed, and a site is deleted (refused while it
 * has an agent).
 */
import type { Browser, Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import {
  accessibilityViolations,
  closeContext,
  launchBrowser,
  SCREENSHOTS,
} from "../_fixtures/browser.ts";

/** Closes the one-shot secret dialog and waits for the reload that follows. */
async function closeSecret(page: import("playwright-core").Page) {
  await Promise.all([page.waitForEvent("load"), page.click("#secret-dialog >> text=Done")]);
}

async function signIn(page: Page, url: string, email: string, password: string, path = "/") {
  await page.goto(`${url}${path}`);
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${url}${path}`), page.click("button[type=submit]")]);
}

async function walk(browser: Browser, stack: Stack, width: number) {
  const q = await stack.quickstart([22], `FirstHour${width}`);
  const admin = await stack.addUser(q.tenantId, "admin");
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  try {
    await signIn(page, stack.url, admin.email, admin.password, `/discover?site=${q.siteId}`);

    // Add by address: lands on the site page, and the toast is there after the page change.
    await page.fill("#bulk-range", "192.0.2.10");
    await Promise.all([page.waitForURL(`**/sites/${q.siteId}`), page.click("text=+ Add")]);
    await page.locator("tr[data-device]", { hasText: "192.0.2.10" }).waitFor();
    await page.locator(".toast", { hasText: "1 device added" }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-added-${width}.png` });

    // The same address again, from the site page: nothing added, and the toast says why.
    await page.fill("#bulk-range", "192.0.2.10");
    await page.click("text=+ Add");
    await page.locator(".toast", {
      hasText: "0 devices added; 1 skipped: 192.0.2.10 is already on this site",
    }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-skipped-${width}.png` });

    // Actions are never clipped: the row's buttons are inside the viewport at every width.
    const box = await page.locator("tr[data-device] >> text=✎ Edit").first().boundingBox();
    assert(
      box && box.x >= 0 && box.x + box.width <= width,
      `actions clipped: ${JSON.stringify(box)}`,
    );

    // Rename the device and the site.
    const row = page.locator("tr[data-device]", { hasText: "192.0.2.10" });
    await row.locator("text=✎ Edit").click();
    await page.locator("dialog[open] input[name=label]").fill("Gate camera");
    await page.locator("dialog[open] >> text=Save changes").click();
    await page.locator("tr[data-device]", { hasText: "Gate camera" }).waitFor();
    await page.click("text=✎ Rename site");
    await page.locator("dialog[open] input[name=name]").fill(`Renamed ${width}`);
    await page.locator("dialog[open] >> text=Save").click();
    await page.locator("h1", { hasText: `Renamed ${width}` }).waitFor();
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-renamed-${width}.png` });

    // A one-line install command, then its token listed and revoked: the link stops working.
    await page.click("text=One-line install command");
    await page.waitForSelector("#secret-dialog[open]");
    const commands = (await page.textContent("#secret-text"))!;
    const link = /'(http[^']+\/api\/install\/[^']+\.sh)'/.exec(commands)![1];
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-install-command-${width}.png` });
    await closeSecret(page);
    const active = page.locator("tr[data-token]", { hasText: "active" }).first();
    await active.waitFor();
    await active.locator("text=Revoke").click();
    await page.click("#confirm-dialog >> text=Confirm");
    await page.locator(".toast", { hasText: "Enrollment token revoked" }).waitFor();
    const dead = await fetch(link);
    assertEquals(dead.status, 401);
    assertStringIncludes((await dead.json()).message, "enrollment token has expired");

    // An address the console does not have: its own page, not JSON.
    const missing = await page.goto(`${stack.url}/sites/`);
    assertEquals(missing?.status(), 404);
    assertStringIncludes(await page.textContent("main") ?? "", "There is no page at /sites/");
    assert(await page.locator("text=Sign out").isVisible(), "the console's header is there");
    assertEquals(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-404-${width}.png` });

    // Licenses: a 403 that says who may see them.
    const lic = await page.goto(`${stack.url}/licenses`);
    assertEquals(lic?.status(), 403);
    assertStringIncludes(await page.textContent("main") ?? "", "superadmins only");

    // Delete the site (no agent): confirmed, then gone from the list.
    await page.goto(`${stack.url}/sites/${q.siteId}`);
    await page.click("text=Delete site");
    await page.waitForSelector("#confirm-dialog[open]");
    assertStringIncludes(
      await page.textContent("#confirm-text") ?? "",
      `Delete site "Renamed ${width}" with its 2 device(s)`,
    );
    await page.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-confirm-${width}.png` });
    // Cancel keeps the site; Confirm deletes it.
    await page.click("#confirm-dialog >> text=Cancel");
    assertStringIncludes(await page.textContent("h1") ?? "", `Renamed ${width}`);
    await page.click("text=Delete site");
    await Promise.all([
      page.waitForURL(`${stack.url}/sites`),
      page.click("#confirm-dialog >> text=Confirm"),
    ]);
    assert(!(await page.textContent("main") ?? "").includes(`Renamed ${width}`), "site listed");

    // Sign out, audited.
    await page.goto(`${stack.url}/`);
    await Promise.all([page.waitForURL("**/login"), page.click("text=Sign out")]);
    const audit = await stack.admin<{ entries: { action: string; actor: string }[] }>(
      "audit",
      "--tenant",
      q.tenantId,
      "--action",
      "auth.logout",
    );
    assertEquals(audit.entries.map((e) => e.actor), [`user:${admin.userId}`]);
    assertEquals(
      consoleErrors.filter((e) => !/status of 40[34]/.test(e)),
      [],
      "no console errors (favicon included)",
    );
  } finally {
    await closeContext(context);
  }
}

Deno.test("UI first hour: add by address, skipped feedback, rename, delete site, 404 page, favicon, licenses 403, audited sign-out", async () => {
  const stack = await Stack.start();
  const browser = await launchBrowser();
  try {
    const icon = await fetch(`${stack.url}/favicon.ico`);
    assertEquals(icon.status, 200);
    assertStringIncludes(icon.headers.get("content-type") ?? "", "image/");
    await icon.body?.cancel();
    // API clients still get JSON for an unknown address.
    const api = await fetch(`${stack.url}/nope`, { headers: { accept: "application/json" } });
    assertEquals(api.status, 404);
    assertEquals((await api.json()).error, "not_found");
    // A site with an agent is not deleted: the refusal says what to do; revoked, it goes.
    const withAgent = await stack.quickstart([22], "Agented");
    const e = await stack.enroll(withAgent.enrollmentToken);
    assertEquals(e.code, 0, e.stderr);
    const del = () =>
      fetch(`${stack.url}/api/sites/${withAgent.siteId}`, {
        method: "DELETE",
        headers: { authorization: `Bearer ${withAgent.apiToken}` },
      });
    const refused = await del();
    assertEquals(refused.status, 409);
    assertStringIncludes((await refused.json()).message, "still has agents: revoke them first");
    const agents = await stack.admin<{ agents: { id: string }[] }>(
      "agent",
      "list",
      "--tenant",
      withAgent.tenantId,
    );
    await stack.admin(
      "agent",
      "revoke",
      "--tenant",
      withAgent.tenantId,
      "--agent",
      agents.agents[0].id,
    );
    const ok = await del();
    assertEquals(ok.status, 200);
    assertEquals((await ok.json()).devices, 1);

    // Rename an agent on the Agents page: the name shows, the host name stays beneath it.
    const named = await stack.quickstart([22], "Named");
    assertEquals((await stack.enroll(named.enrollmentToken, "named-agent")).code, 0);
    const namer = await stack.addUser(named.tenantId, "admin");
    const ctx = await browser.newContext();
    const agentsPage = await ctx.newPage();
    await agentsPage.goto(`${stack.url}/agents`);
    await agentsPage.fill("#email", namer.email);
    await agentsPage.fill("#password", namer.password);
    await Promise.all([
      agentsPage.waitForURL(`${stack.url}/agents`),
      agentsPage.click("button[type=submit]"),
    ]);
    await agentsPage.click("text=✎ Rename");
    await agentsPage.locator("dialog[open] input[name=name]").fill("Gate PC");
    await agentsPage.locator("dialog[open] >> text=Save").click();
    await agentsPage.locator("tr[data-agent]", { hasText: "Gate PC" }).waitFor();
    const listed = await fetch(`${stack.url}/api/agents`, {
      headers: { authorization: `Bearer ${named.apiToken}` },
    }).then((r) => r.json());
    assertEquals(listed.items[0].label, "Gate PC");
    await closeContext(ctx);

    // A superadmin's navigation fits one line at 1280 px.
    const root = await stack.addUser(named.tenantId, "superadmin");
    const wide = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const top = await wide.newPage();
    await top.goto(`${stack.url}/`);
    await top.fill("#email", root.email);
    await top.fill("#password", root.password);
    await Promise.all([top.waitForURL(`${stack.url}/`), top.click("button[type=submit]")]);
    const links = await top.locator("nav[aria-label=Main] a").evaluateAll((as) =>
      as.map((a) => Math.round(a.getBoundingClientRect().top))
    );
    assert(links.length >= 9, `superadmin links: ${links.length}`);
    assertEquals(new Set(links).size, 1, `navigation wraps: ${links.join(",")}`);
    await top.screenshot({ path: `${SCREENSHOTS}/ui-firsthour-superadmin-nav-1280.png` });
    await wide.close();

    await walk(browser, stack, 1280);
    await walk(browser, stack, 390);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
