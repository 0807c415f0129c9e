/**
 * Catches what a proxied page asks of the cloud's root by mistake. Camera UIs assign
 * `location = "/doc/page/login.asp"` or build elements the shim never sees; such requests arrive
 * at the cloud's origin outside `/c/{h}/`, with the proxied page as their Referer. When no cloud
 * route matches, the request is redirected (307, method and body kept) into that page's handle.
 * @module
 */
import { handleOfReferer } from "../../tenancy/isolation.ts";

/** Where to send a request that missed every cloud route, or null to answer 404. */
export function refererFallback(req: Request): string | null {
  const url = new URL(req.url);
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/c/")) return null;
  const site = req.headers.get("sec-fetch-site");
  if (site && site !== "same-origin") return null;
  const handle = handleOfReferer(req.headers.get("referer"), req.headers.get("host"));
  return handle ? `/c/${handle}${url.pathname}${url.search}` : null;
}
