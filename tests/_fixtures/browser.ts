/**
 * Real headless Chromium for the tests (Debian's chromium driven by playwright-core), with a
 * place for screenshots a reviewer can look at (`out/screenshots/`, git-ignored).
 * @module
 */
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

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
 * A browser context signed in with a session `cookie` (`name=value`, as `Stack.signIn` returns it)
 * for the cloud at `url`; `options` as `browser.newContext` takes them.
 */
export async function signedInContext(
  browser: Browser,
  url: string,
  cookie: string,
  options: Parameters<Browser["newContext"]>[0] = {},
): Promise<BrowserContext> {
  const context = await browser.newContext(options);
  const eq = cookie.indexOf("=");
  await context.addCookies([{ name: cookie.slice(0, eq), value: cookie.slice(eq + 1), url }]);
  return context;
}

/** Whether the promise settles within `ms` (its outcome is left to its owner). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const settled = await Promise.race([
    p.then(() => true, () => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), ms)),
  ]);
  clearTimeout(timer);
  return settled;
}

/**
 * Closes a page, asking Chromium again when it does not. Chromium can acknowledge a close that
 * races a navigation commit (a reload, a meta refresh) without closing anything, and Playwright
 * then waits for the page's end forever (microsoft/playwright#42068, #42366; fresh-clone runs here
 * hung 10 minutes on it). A second `page.close()` only waits on the first, so the close is sent
 * again at the protocol level (`Target.closeTarget`, what Playwright's proposed fix does), up to
 * four times 2 s apart; after that the error says so instead of hanging the suite.
 */
export async function closePage(page: Page): Promise<void> {
  if (page.isClosed()) return;
  // The page's own target id, asked before closing (the page is fully there now).
  let targetId: string | undefined;
  try {
    const own = await page.context().newCDPSession(page);
    targetId = (await own.send("Target.getTargetInfo")).targetInfo.targetId;
    await own.detach();
  } catch { /* not a Chromium page: the plain close below is all there is */ }
  const closing = page.close();
  if (await settlesWithin(closing, 2_000)) return await closing;
  const browser = page.context().browser();
  for (let attempt = 0; attempt < 4 && browser && targetId; attempt++) {
    try {
      const session = await browser.newBrowserCDPSession();
      await session.send("Target.closeTarget", { targetId });
      await session.detach();
    } catch { /* the browser may be closing the page right now */ }
    if (await settlesWithin(closing, 2_000)) return await closing;
  }
  throw new Error(`the page ${page.url()} did not close after 5 requests`);
}

/**
 * Closes a browser context: its pages first, each with {@link closePage} (a context's own close can
 * meet the same race with a page whose reload is committing), then the context, within 10 s or an
 * error that says so (never a silent hang of the whole suite).
 */
export async function closeContext(context: BrowserContext): Promise<void> {
  for (const page of context.pages()) await closePage(page);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const closed = await Promise.race([
    context.close().then(() => true),
    new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), 10_000)),
  ]);
  clearTimeout(timer);
  if (!closed) throw new Error("the browser context did not close within 10 s");
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
