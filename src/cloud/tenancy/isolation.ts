/**
 * Keeps a hostile device page away from the cloud and from other devices. Every proxied page
 * shares the cloud's origin (path-prefix mode), so the browser alone cannot tell the cloud's UI
 * from a camera page; the server does, from what browsers send with every request
 * (`Sec-Fetch-Site`, `Sec-Fetch-Mode`, `Referer`, `Service-Worker`):
 * - a cookie session is refused on the cloud's own routes when the request comes from a proxied
 *   page, or from the same origin with its Referer hidden (the cloud's pages always send one);
 * - a request into `/c/{h}/` from the same origin must come from a page of the same handle;
 * - a cross-site request may only navigate (GET/HEAD), never call into a device;
 * - service-worker script fetches under `/c/` are refused, so a device cannot keep one.
 * Clients that send no `Sec-Fetch-Site` (curl, SDKs, old browsers) are not browsers running a
 * device's script and pass. Residual risks are listed in README ("Browser proxy isolation").
 * @module
 */

/** A refusal: status and user-facing message. */
export interface Refusal {
  status: 403;
  message: string;
}

/** The request facts the checks read (header values, lower-case names). */
export interface FetchFacts {
  method: string;
  host: string | null;
  secFetchSite: string | null;
  secFetchMode: string | null;
  secFetchDest: string | null;
  referer: string | null;
  serviceWorker: string | null;
}

/** Reads the facts from a header getter. */
export function fetchFacts(method: string, get: (name: string) => string | null): FetchFacts {
  return {
    method: method.toUpperCase(),
    host: get("host"),
    secFetchSite: get("sec-fetch-site"),
    secFetchMode: get("sec-fetch-mode"),
    secFetchDest: get("sec-fetch-dest"),
    referer: get("referer"),
    serviceWorker: get("service-worker"),
  };
}

/** The handle a same-origin Referer points into, if it is a proxied page. */
export function handleOfReferer(referer: string | null, host: string | null): string | null {
  if (!referer) return null;
  let u: URL;
  try {
    u = new URL(referer);
  } catch {
    return null;
  }
  if (host && u.host !== host) return null;
  const m = /^\/c\/(h-[A-Za-z0-9_-]{6,64})\//.exec(u.pathname);
  return m ? m[1] : null;
}

/** Whether a Referer names a page under the proxy on this host. */
function refererIsProxied(f: FetchFacts): boolean {
  if (!f.referer) return false;
  try {
    const u = new URL(f.referer);
    return (!f.host || u.host === f.host) && u.pathname.startsWith("/c/");
  } catch {
    return false;
  }
}

/** Checks a request into `/c/{handle}/`; null when it may proceed. */
export function checkProxyRequest(handle: string, f: FetchFacts): Refusal | null {
  if (f.serviceWorker) {
    return { status: 403, message: "service workers are not allowed under the proxy" };
  }
  const site = f.secFetchSite;
  if (!site || site === "none") return null;
  if (site === "same-origin") {
    if (f.secFetchMode === "websocket") {
      // Browsers send no Referer with a WebSocket handshake; see README's residual risks.
      return null;
    }
    if (!f.referer) {
      return {
        status: 403,
        message: "open this device from its site page (the request hid where it came from)",
      };
    }
    const from = handleOfReferer(f.referer, f.host);
    if (from !== null && from !== handle) {
      return { status: 403, message: "a device page may not reach another device" };
    }
    return null;
  }
  // same-site or cross-site: navigation only.
  if (f.secFetchMode === "navigate" && (f.method === "GET" || f.method === "HEAD")) return null;
  return { status: 403, message: "cross-site requests into the device proxy are refused" };
}

/** Checks a cookie-session request to the cloud's own routes; null when it may proceed. */
export function checkCloudSessionRequest(f: FetchFacts): Refusal | null {
  if (f.secFetchSite !== "same-origin") return null;
  if (refererIsProxied(f)) {
    return { status: 403, message: "a device page may not use your cloud session" };
  }
  // No browser sends a Referer with a WebSocket handshake. WebKit (Safari) says
  // `Sec-Fetch-Mode: websocket` there, as the Fetch Metadata standard asks; Chromium sends no
  // Sec-Fetch headers at all. Such an upgrade is admitted by its own route: an Origin that is the
  // cloud's, and the page's antiforgery token as its subprotocol (upgrade_proof.ts).
  if (!f.referer && f.secFetchMode !== "navigate" && f.secFetchMode !== "websocket") {
    return { status: 403, message: "requests that hide their origin page may not use the session" };
  }
  return null;
}
