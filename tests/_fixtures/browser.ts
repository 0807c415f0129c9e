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
