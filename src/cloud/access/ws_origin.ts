/**
 * The one rule for WebSocket upgrades that a browser's cookie authenticates: browsers attach
 * cookies to a WebSocket handshake whatever page opened it, and the same-origin policy does not
 * apply to WebSockets, so the only defence against a foreign page riding the operator's session
 * is the `Origin` the browser sends. An upgrade authenticated by a cookie is accepted only when
 * its Origin names the host the request was sent to (the cloud's own origin on `/api/tunnel/…`
 * and `/c/{h}/…`, the handle's own origin on a `--proxy-domain` device origin). `null`, a
 * malformed Origin and any other host are refused; a request without Origin is not a browser's.
 * @module
 */
import { AppError } from "../../shared/errors.ts";

/** Whether `origin` (the Origin header, if any) is the origin of `host` (the Host header). */
export function sameOriginUpgrade(origin: string | null | undefined, host: string | undefined) {
  if (origin === undefined || origin === null) return true;
  let u: URL;
  try {
    u = new URL(origin);
  } catch {
    return false;
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") return false;
  return !!host && u.host.toLowerCase() === host.toLowerCase();
}

/** Throws 403 when a cookie-authenticated upgrade comes from another origin. */
export function requireSameOriginUpgrade(
  origin: string | null | undefined,
  host: string | undefined,
): void {
  if (!sameOriginUpgrade(origin, host)) {
    throw new AppError("forbidden", "cross-origin WebSocket with a session cookie refused");
  }
}
