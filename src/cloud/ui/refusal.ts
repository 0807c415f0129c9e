/**
 * Why the cloud refused a WebSocket upgrade, for the page scripts that open one (the live player,
 * the thumbnails). A browser never learns why an upgrade was refused: its socket just closes. So
 * a script asks the same URL again without upgrading and reads the answer: 426 means the cloud
 * would have served it (the camera did not answer), anything else carries the cloud's own
 * message ("agent reconnecting", a 403's wording, a stale page's antiforgery words), and whether
 * waiting can help (5xx, 429).
 * @module
 */

/**
 * The page-side function `refusalOf(url)`, resolving to `{ retry, text }`; inlined into each
 * script that needs it.
 */
export const REFUSAL_JS = `
async function refusalOf(url) {
  try {
    // The page's token too: a page whose token is stale (signed in again elsewhere) hears so.
    const token = document.querySelector('meta[name="csrf-token"]')?.content;
    const headers = { accept: "application/json" };
    if (token) headers["x-csrf-token"] = token;
    const r = await fetch(url, { credentials: "same-origin", headers });
    if (r.status === 426) return { retry: true, text: "the camera did not answer" };
    const b = await r.json().catch(() => ({}));
    return { retry: r.status >= 500 || r.status === 429, text: b.message || "HTTP " + r.status };
  } catch {
    return { retry: true, text: "the cloud cannot be reached" };
  }
}
`;
