/**
 * The cloud's "not followed" page: where a device tried to send the browser outside the device
 * (a redirect, a `Refresh` header, a `<meta http-equiv=refresh>`), the browser gets this small
 * page instead, showing the address as text and following nothing. Headers are answered with it
 * directly; a meta refresh in a page is pointed at it by URL, under the handle's own prefix
 * (`{prefix}/.nc-leaving?to=…`), which the proxy serves itself without asking the device.
 * @module
 */
import { escapeHtml } from "../../../shared/encoding.ts";

/** The path under a handle's prefix where the proxy serves the page (never sent to the device). */
export const LEAVING_PATH = "/.nc-leaving";

/** The longest address the page shows. */
const MAX_SHOWN = 2048;

/** The URL of the page for the foreign address `to`, under `prefix` (`/c/{h}`, or ""). */
export function leavingUrl(prefix: string, to: string): string {
  return `${prefix}${LEAVING_PATH}?to=${encodeURIComponent(to.slice(0, MAX_SHOWN))}`;
}

/**
 * The foreign address a request for the page carries, when `devicePath` (the path and query
 * under the prefix) asks for the page; null for every other path.
 */
export function leavingTarget(devicePath: string): string | null {
  const q = devicePath.indexOf("?");
  const path = q < 0 ? devicePath : devicePath.slice(0, q);
  if (path !== LEAVING_PATH) return null;
  try {
    return new URLSearchParams(q < 0 ? "" : devicePath.slice(q + 1)).get("to") ?? "";
  } catch {
    return "";
  }
}

/** The page's HTML for the foreign address `location`. */
export function leavingPage(location: string): string {
  return `<!doctype html><meta charset="utf-8"><title>Redirect not followed — Nanodems Connector` +
    `</title><body style="font-family:sans-serif;max-width:40em;margin:4em auto">` +
    `<h1>Redirect not followed</h1><p>The device sent the browser to an address outside ` +
    `this device, which the proxy does not follow:</p><p><code>${
      escapeHtml(location.slice(0, MAX_SHOWN))
    }</code></p></body>`;
}
