/**
 * Real headless Chromium for the tests (Debian's chromium driven by playwright-core), with a
 * place for screenshots a reviewer can look at (`out/screenshots/`, git-ignored).
 * @module
 */
import { type Browser, chromium } from "playwright-core";

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
