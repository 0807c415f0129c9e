/**
 * The web UI in real headless Chromium against a real cloud and a real agent process, walking
 * what an admin does from an empty tenant: sign in → new site → a fresh enrollment token → the
 * agent enrolled with it comes online on the site page (live, no reload) → bulk add a device →
 * its HTTP pill opens the proxied camera page → open a CLI session (token shown once) → revoke it
 * → the audit log lists each step. Screenshots of every main page go to out/screenshots/. Then a
 * user of another tenant sees none of it, even by typing its URLs. Every main page passes axe-core's
 * WCAG 2.1 A/AA rules.
 */
import type { Page } from "playwright-core";
import { assert, assertEquals, assertStringIncludes } from "../_fixtures/assert.ts";
import { Stack } from "../_fixtures/stack.ts";
import { startCamera } from "../_fixtures/camera.ts";
import {
  accessibilityViolations,
  closeContext,
  closePage,
  launchBrowser,
  SCREENSHOTS,
} from "../_fixtures/browser.ts";

async function signIn(page: Page, url: string, email: string, password: string) {
  await page.goto(`${url}/`);
  assertStringIncludes(page.url(), "/login?next=");
  await page.fill("#email", email);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(`${url}/`), page.click("button[type=submit]")]);
}

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${SCREENSHOTS}/ui-${name}.png`, fullPage: true });
}

Deno.test("UI walk: sign in, new site, agent online, add device, open it, CLI session, audit", async () => {
  const stack = await Stack.start();
  const cam = await startCamera();
  stack.defer(cam.close);
  const browser = await launchBrowser();
  try {
    const { tenantId } = await stack.admin<{ tenantId: string }>(
      "tenant",
      "create",
      "--name",
      "Acme",
    );
    const admin = await stack.addUser(tenantId, "admin");
    const context = await browser.newContext({ acceptDownloads: true });
    const page = await context.newPage();
    page.on("dialog", (d) => d.accept());

    await signIn(page, stack.url, admin.email, admin.password);
    assertStringIncludes(await page.textContent("main") ?? "", "No sites yet");
    await shot(page, "01-dashboard-empty");

    // New site.
    await page.click("nav >> text=Sites");
    await page.fill("#site-name", "Warehouse A");
    await Promise.all([page.waitForURL(/\/sites\/site-/), page.click("text=+ New site")]);
    const siteId = page.url().split("/sites/")[1];
    assertStringIncludes(await page.textContent("#site-agents") ?? "", "No agents yet");

    // The installers download with a fresh token inside.
    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("text=Linux/macOS installer (.sh)"),
    ]);
    const script = await Deno.readTextFile(await download.path());
    assertStringIncludes(script, "enr_");

    // A fresh token from the page, shown once; an agent enrolled with it comes online live.
    // The one-line install command: ready commands for Linux and Windows with a fresh token.
    await page.click("text=One-line install command");
    await page.waitForSelector("#secret-dialog[open]");
    const commands = (await page.textContent("#secret-text"))!;
    assertStringIncludes(commands, "| sudo sh");
    assertStringIncludes(commands, "curl.exe");
    const token = /\/api\/install\/(enr_[A-Za-z0-9_-]+\.[0-9a-f]{64})\.sh/.exec(commands)![1];
    // The Linux command's URL serves the installer with that token inside, without signing in.
    const viaLink = await fetch(/'(http[^']+\.sh)'/.exec(commands)![1]);
    assertEquals(viaLink.status, 200);
    assertStringIncludes(await viaLink.text(), token);
    await shot(page, "02-site-token");
    await page.click("#secret-dialog >> text=Done");
    const e = await stack.enroll(token);
    assertEquals(e.code, 0, e.stderr);
    await stack.runAgent(e.state);
    await page.waitForSelector("#site-agents >> text=online", { timeout: 15_000 });

    // Bulk add the camera.
    await page.fill("#bulk-range", "127.0.0.1");
    await page.fill("#bulk-ports", `${cam.port}/http`);
    await page.click("text=+ Add");
    await page.waitForSelector(`text=${cam.port} HTTP`);
    await shot(page, "03-site");

    // The HTTP pill opens the proxied camera UI in a new tab.
    const [tab] = await Promise.all([
      context.waitForEvent("page"),
      page.click(`text=${cam.port} HTTP`),
    ]);
    await tab.waitForSelector("#title");
    assertEquals(await tab.textContent("#title"), "IP Camera");
    assertStringIncludes(tab.url(), "/c/h-");
    await tab.waitForFunction(`document.getElementById("xhr")?.textContent?.includes("rpc2-ok")`);
    await shot(tab, "04-camera-through-proxy");
    await closePage(tab);

    // CLI session: the command with its token is shown once, then only the session row.
    await page.click("text=Open CLI session");
    await page.click("#cli-dialog >> text=Create session");
    await page.waitForSelector("#secret-dialog[open]");
    const command = (await page.textContent("#secret-text"))!;
    const ops = /ops_[A-Za-z0-9_-]+/.exec(command)?.[0];
    assert(ops && command.startsWith(`echo ${ops} | nanodems-tunnel run`), command);
    assert(command.endsWith("--token -"), "the token stays off the command line");
    await page.click("#secret-dialog >> text=Done");
    await page.waitForLoadState();
    await page.waitForSelector("[data-session]");
    assert(!(await page.content()).includes(ops), "the CLI token was shown again");
    await page.click("[data-session] >> text=Revoke");
    await page.click("#confirm-dialog >> text=Confirm");
    await page.waitForSelector("text=No active CLI sessions.");

    // Every main page renders; screenshots for the reviewer.
    for (
      const [path, name, expect] of [
        ["/", "05-dashboard", "agents online"],
        ["/sites", "06-sites", "Warehouse A"],
        ["/agents", "07-agents", "online"],
        [`/discover?site=${siteId}`, "08-discover", "Run discovery"],
        ["/account/tokens", "09-tokens", "API tokens"],
        ["/download", "10-download", "no compiled executables"],
      ]
    ) {
      await page.goto(stack.url + path);
      assertStringIncludes(await page.textContent("main") ?? "", expect, path);
      await shot(page, name);
      // WCAG 2.1 A/AA rules (labels, contrast, landmarks, names) by axe-core.
      assertEquals(await accessibilityViolations(page), [], `accessibility of ${path}`);
    }
    // API token: created in the UI, shown once.
    await page.goto(`${stack.url}/account/tokens`);
    await page.fill("#token-name", "ui test");
    await page.click("text=Create token");
    await page.waitForSelector("#secret-dialog[open]");
    assert((await page.textContent("#secret-text"))!.startsWith("nt_"));

    // The audit log lists each step.
    await page.goto(`${stack.url}/audit`);
    const audit = (await page.textContent("main")) ?? "";
    for (
      const action of [
        "site.create",
        "enrollment_token.mint",
        "agent.enroll",
        "device.bulk_create",
        "tunnel.open",
        "cli_session.mint",
        "cli_session.revoke",
        "api_token.mint",
      ]
    ) {
      assertStringIncludes(audit, action, `audit lacks ${action}`);
    }
    await shot(page, "11-audit");
    const csv = await page.request.get(`${stack.url}/audit.csv?action=site.create`);
    assertStringIncludes(await csv.text(), "site.create");

    // Another tenant's user sees none of it, even by typing the URLs.
    const other = await stack.admin<{ tenantId: string }>("tenant", "create", "--name", "Other");
    const stranger = await stack.addUser(other.tenantId, "admin");
    const ctxB = await browser.newContext();
    const pageB = await ctxB.newPage();
    await signIn(pageB, stack.url, stranger.email, stranger.password);
    await pageB.goto(`${stack.url}/sites`);
    assert(!(await pageB.textContent("main"))!.includes("Warehouse A"));
    const typed = await pageB.goto(`${stack.url}/sites/${siteId}`);
    assertEquals(typed?.status(), 404);
    await pageB.goto(`${stack.url}/agents`);
    assertStringIncludes(await pageB.textContent("main") ?? "", "No agents yet");
    await pageB.goto(`${stack.url}/audit`);
    const theirs = (await pageB.textContent("main")) ?? "";
    assert(!theirs.includes("site.create") && !theirs.includes(siteId), "audit leaked");
    await ctxB.close();
    await closeContext(context);
  } finally {
    await browser.close();
    await stack.stop();
  }
});
