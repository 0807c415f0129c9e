/**
 * The Team page in real Chromium at 1280 and 390 px: an admin invites a user, the user sets a
 * password through the one-time link (once) and signs in; the admin changes the role, disables
 * the user (sign-in refused) and hands out a password-reset link. The API refuses an admin
 * changing themselves and a second invite of the same email.
 */
import type { Browser } from "playwright-core";
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

async function setPassword(browser: Browser, link: string, password: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    await page.goto(link);
    await page.fill("#password", password);
    await page.fill("#confirm", password + "x");
    await page.click("button[type=submit]");
    assertStringIncludes(await page.textContent(".err") ?? "", "the two passwords differ");
    await page.fill("#password", password);
    await page.fill("#confirm", password);
    await Promise.all([page.waitForURL("**/login**"), page.click("button[type=submit]")]);
    assertStringIncludes(await page.textContent("main") ?? "", "Your password is set: sign in.");
    // The link works once.
    const again = await page.goto(link);
    assertEquals(again?.status(), 404);
    assertStringIncludes(await page.textContent("main") ?? "", "expired or was already used");
  } finally {
    await closeContext(context);
  }
}

async function walk(browser: Browser, stack: Stack, width: number) {
  const q = await stack.quickstart([22], `Team${width}`);
  const admin = await stack.addUser(q.tenantId, "admin");
  const context = await browser.newContext({ viewport: { width, height: 900 } });
  const page = await context.newPage();
  page.on("dialog", (d) => d.accept());
  try {
    await page.goto(`${stack.url}/team`);
    await page.fill("#email", admin.email);
    await page.fill("#password", admin.password);
    await Promise.all([page.waitForURL(`${stack.url}/team`), page.click("button[type=submit]")]);
    const newcomer = `new-${width}@example.com`;
    await page.fill("#invite-email", newcomer);
    await page.selectOption("#invite-role", "viewer");
    await page.click("text=Invite");
    await page.waitForSelector("#secret-dialog[open]");
    const link = (await page.textContent("#secret-text"))!.trim();
    assert(link.startsWith(`${stack.url}/invite/inv_`), link);
    await page.screenshot({ path: `${SCREENSHOTS}/ui-team-invite-${width}.png` });
    await closeSecret(page);
    const row = page.locator(`tr[data-user="${newcomer}"]`);
    await row.waitFor();
    assertStringIncludes(await row.textContent() ?? "", "invited (no password yet)");

    await setPassword(browser, link, "newcomer-pass-1");
    await stack.signIn(newcomer, "newcomer-pass-1");

    // Role: viewer → operator.
    await page.reload();
    await row.locator("select[name=role]").selectOption("operator");
    await row.locator("text=Save").click();
    await page.locator(".toast", { hasText: "Role saved" }).waitFor();
    // Disable: sign-in refused.
    await row.locator("text=Disable").click();
    await page.click("#confirm-dialog >> text=Confirm");
    await page.locator(`tr[data-user="${newcomer}"]`, { hasText: "disabled" }).waitFor();
    const refused = await fetch(`${stack.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: newcomer, password: "newcomer-pass-1" }),
    });
    assertEquals(refused.status, 401);
    await refused.body?.cancel();
    // Reset password: a new link; using it enables the user again with the new password.
    await page.locator(`tr[data-user="${newcomer}"] >> text=Reset password`).click();
    await page.waitForSelector("#secret-dialog[open]");
    const reset = (await page.textContent("#secret-text"))!.trim();
    await closeSecret(page);
    await setPassword(browser, reset, "newcomer-pass-2");
    await stack.signIn(newcomer, "newcomer-pass-2");

    // Partner API keys: created (shown once, CIDR pin), its sessions counted, revoked with them.
    await page.reload();
    await page.fill("#key-name", "Partner VMS");
    await page.fill("#key-cidr", "127.0.0.0/8");
    await page.click("text=Create key");
    await page.waitForSelector("#secret-dialog[open]");
    const key = (await page.textContent("#secret-text"))!.trim();
    assert(key.startsWith("nk_"), key);
    await closeSecret(page);
    const minted = await fetch(`${stack.url}/api/v1/sessions`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json" },
      body: JSON.stringify({ external_operator_id: "op-1", operator_display_name: "Op One" }),
    });
    assertEquals(minted.status, 201, await minted.clone().text());
    const ops = (await minted.json()).token as string;
    await page.reload();
    const keyRow = page.locator('tr[data-key="Partner VMS"]');
    assertStringIncludes(await keyRow.textContent() ?? "", "127.0.0.0/8");
    assert(/\b1\b/.test(await keyRow.locator("td").nth(3).textContent() ?? ""), "1 live session");
    await keyRow.locator("text=Revoke").click();
    assertStringIncludes(
      await page.textContent("#confirm-text") ?? "",
      'partner key "Partner VMS"',
    );
    await page.click("#confirm-dialog >> text=Confirm");
    await page.locator(".toast", { hasText: "Key and its sessions revoked" }).waitFor();
    const plan = await fetch(`${stack.url}/api/cli/sessions/plan`, {
      headers: { authorization: `Bearer ${ops}` },
    });
    assertEquals(plan.status, 401, "the key's session is revoked with it");
    await plan.body?.cancel();

    await page.reload();
    assertStringIncludes(
      await page.locator(`tr[data-user="${admin.email}"]`).textContent() ?? "",
      "(you)",
    );
    assertEquals(await accessibilityViolations(page), []);
    await page.screenshot({ path: `${SCREENSHOTS}/ui-team-${width}.png`, fullPage: true });

    const audit = await stack.admin<{ entries: { action: string }[] }>(
      "audit",
      "--tenant",
      q.tenantId,
    );
    const actions = audit.entries.map((e) => e.action);
    for (const a of ["user.invite", "user.role", "user.disable", "user.password_link"]) {
      assert(actions.includes(a), `${a} audited`);
    }
  } finally {
    await closeContext(context);
  }
}

Deno.test("Team page: invite, set password once, role, disable, reset link (1280 and 390 px)", async () => {
  const browser = await launchBrowser();
  try {
    // Sign-in is limited to 5 tries a minute per address: one cloud per walk.
    for (const width of [1280, 390]) {
      const stack = await Stack.start();
      try {
        await walk(browser, stack, width);
      } finally {
        await stack.stop();
      }
    }
  } finally {
    await browser.close();
  }
});

Deno.test("Team API: no changing yourself, one user per email, admins only", async () => {
  const stack = await Stack.start();
  try {
    const q = await stack.quickstart([22]);
    const headers = { authorization: `Bearer ${q.apiToken}`, "content-type": "application/json" };
    const self = await fetch(`${stack.url}/api/users/${q.userId}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ disabled: true }),
    });
    assertEquals(self.status, 400);
    assertStringIncludes((await self.json()).message, "yourself");
    const invited = await fetch(`${stack.url}/api/users`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: "v@example.com", role: "viewer" }),
    });
    assertEquals(invited.status, 201);
    const v = await invited.json();
    assertStringIncludes(v.inviteUrl, "/invite/inv_");
    const twice = await fetch(`${stack.url}/api/users`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: "V@example.com", role: "viewer" }),
    });
    assertEquals(twice.status, 409);
    await twice.body?.cancel();
    const superadmin = await fetch(`${stack.url}/api/users/${v.user.id}`, {
      method: "PATCH",
      headers,
      body: JSON.stringify({ role: "superadmin" }),
    });
    assertEquals(superadmin.status, 403, "only a superadmin grants superadmin");
    await superadmin.body?.cancel();
    const vt = await stack.admin<{ token: string }>(
      "token",
      "create",
      "--tenant",
      q.tenantId,
      "--user",
      v.user.id,
    );
    const list = await fetch(`${stack.url}/api/users`, {
      headers: { authorization: `Bearer ${vt.token}` },
    });
    assertEquals(list.status, 403);
    await list.body?.cancel();
    const bad = await fetch(`${stack.url}/api/users`, {
      method: "POST",
      headers,
      body: JSON.stringify({ email: "not-an-email" }),
    });
    assertEquals(bad.status, 400);
    assertEquals((await bad.json()).error, "bad_request");
  } finally {
    await stack.stop();
  }
});
