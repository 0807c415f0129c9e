/**
 * Real headless Chromium for the tests (Debian's chromium driven by playwright-core), with a
 * place for screenshots a reviewer can look at (`out/screenshots/`, git-ignored).
 * @module
 */
import { type Browser, chromium, type Page } from "playwright-core";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Where screenshots go. */
export const SCREENSHOTS = `${ROOT}out/screenshots`;

/** Launches headless Chromium. */
export async function launchBrowser(): Promise<Browser> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  return await chromium.launch({
    executablePath: Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

/**
 * Closes a page, asking again when Chromium does not. Chromium can acknowledge a close that races
 * a navigation commit (a reload, a meta refresh) without closing anything, and Playwright then
 * waits for the page's end forever (microsoft/playwright#42068, #42366; a fresh-clone run here
 * hung 10 minutes on it). Each request gets 2 s; the fifth failure is an error, not a hang.
 */
export async function closePage(page: Page): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const closed = await Promise.race([
      page.close().then(() => true),
      new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 2_000)),
    ]);
    clearTimeout(timer);
    if (closed || page.isClosed()) return;
  }
  throw new Error(`the page ${page.url()} did not close after 5 requests`);
}

/** One accessibility violation as axe-core reports it. */
export interface A11yViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** Runs axe-core (WCAG 2 A/AA rules) on the page; returns the violations. */
export async function accessibilityViolations(page: Page): Promise<A11yViolation[]> {
  const axe = await import("axe-core");
  await page.addScriptTag({ content: (axe.default ?? axe).source });
  const result = await page.evaluate(`axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }
  }).then((r) => r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map((n) => String(n.target)).slice(0, 5),
  })))`);
  return result as A11yViolation[];
}
