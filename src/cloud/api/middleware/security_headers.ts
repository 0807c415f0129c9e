/**
 * Headers on every response of the cloud's own routes (not on proxied device responses): the
 * cloud's pages cannot be framed (`frame-ancestors 'none'`, `X-Frame-Options: DENY`), a window a
 * device page opens onto them is severed from its opener (`Cross-Origin-Opener-Policy:
 * same-origin`, which differs from the proxy's `unsafe-none`), same-origin requests always carry
 * their Referer (`Referrer-Policy: same-origin`, which the isolation checks rely on), and
 * content types are not sniffed.
 * @module
 */
import type { MiddlewareHandler } from "hono";

/** The headers, as a map. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
};

/** Middleware factory: sets the security headers on every response. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) {
      if (!c.res.headers.has(k)) c.res.headers.set(k, v);
    }
  };
}
