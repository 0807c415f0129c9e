/**
 * What crosses the browser proxy in headers, each way. Toward the device: hop-by-hop headers and
 * every cloud credential (its cookies, Bearer tokens, X-License, X-API-Key, X-Admin-Api-Key, the
 * antiforgery token, license subprotocols) are removed, and Host/Origin/Referer are rewritten to
 * the device's own origin so camera firmware that checks them is satisfied. Toward the browser:
 * `Location`, `Content-Location` and `Refresh` are moved under `/c/{h}/` (or dropped when they
 * lead elsewhere: the proxy then shows its own page naming the address); `Set-Cookie` loses its
 * Domain, gets `Path=/c/{h}/`, and is dropped for `__Host-`/`__Secure-` names and the cloud's own
 * cookie names; headers that would let a device page change the cloud origin's state (HSTS,
 * Clear-Site-Data, Service-Worker-Allowed, its own CSP and COOP) are dropped.
 * @module
 */

/** Cookie names the cloud owns; a device may neither see nor set them. */
export const CLOUD_COOKIE = /^(?:__Host-|__Secure-)?nc_/i;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

const CLOUD_CREDENTIALS = new Set([
  "x-license",
  "x-user-id",
  "x-api-key",
  "x-admin-api-key",
  "x-csrf-token",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-real-ip",
  "host",
  "content-length",
]);

const DROPPED_FROM_DEVICE = new Set([
  "strict-transport-security",
  "public-key-pins",
  "public-key-pins-report-only",
  "clear-site-data",
  "service-worker-allowed",
  "alt-svc",
  "content-security-policy",
  "content-security-policy-report-only",
  "cross-origin-opener-policy",
  "cross-origin-embedder-policy",
  "cross-origin-resource-policy",
  "referrer-policy",
  "origin-agent-cluster",
  "content-length",
]);

/** The device a handle reaches, as the proxy names it toward the device. */
export interface DeviceOrigin {
  /** `http` or `https`. */
  scheme: "http" | "https";
  host: string;
  port: number;
}

/** `host[:port]` as a Host header, without the scheme's default port. */
export function hostHeader(d: DeviceOrigin): string {
  const h = d.host.includes(":") ? `[${d.host}]` : d.host;
  const dflt = d.scheme === "https" ? 443 : 80;
  return d.port === dflt ? h : `${h}:${d.port}`;
}

/** The device's origin, e.g. `http://192.0.2.10:8080`. */
export function deviceOriginString(d: DeviceOrigin): string {
  return `${d.scheme}://${hostHeader(d)}`;
}

function connectionTokens(headers: [string, string][]): Set<string> {
  const out = new Set<string>();
  for (const [k, v] of headers) {
    if (k.toLowerCase() !== "connection") continue;
    for (const t of v.split(",")) out.add(t.trim().toLowerCase());
  }
  return out;
}

/** Everything in a Cookie header except the cloud's own cookies. */
export function deviceCookies(cookieHeader: string): string {
  return cookieHeader.split(";").map((c) => c.trim()).filter((c) => {
    const name = c.split("=")[0].trim();
    return c && !CLOUD_COOKIE.test(name);
  }).join("; ");
}

/** Options for the request headers toward the device. */
export interface RequestHeaderOptions {
  device: DeviceOrigin;
  /** The proxy prefix of this handle, `/c/{h}`. */
  prefix: string;
  /** The cloud's origin as the browser sees it (scheme://host). */
  cloudOrigin: string;
  /** Keep Upgrade/Connection: upgrade (WebSocket passthrough). */
  upgrade?: boolean;
}

/** The headers sent to the device for a browser request's raw headers. */
export function requestHeadersToDevice(
  raw: [string, string][],
  o: RequestHeaderOptions,
): [string, string][] {
  const listed = connectionTokens(raw);
  const out: [string, string][] = [["Host", hostHeader(o.device)]];
  const devOrigin = deviceOriginString(o.device);
  for (const [k, v] of raw) {
    const n = k.toLowerCase();
    if (o.upgrade && (n === "upgrade")) {
      out.push([k, v]);
      continue;
    }
    if (HOP_BY_HOP.has(n) || CLOUD_CREDENTIALS.has(n) || listed.has(n)) continue;
    if (n === "authorization") {
      // The device's own Basic/Digest answer goes through; the cloud's Bearer tokens never do.
      if (/^bearer\s/i.test(v)) continue;
      out.push([k, v]);
    } else if (n === "cookie") {
      const kept = deviceCookies(v);
      if (kept) out.push([k, kept]);
    } else if (n === "sec-websocket-protocol") {
      const kept = v.split(",").map((p) => p.trim()).filter((p) =>
        p && !/^(license\.|user\.|bearer\.|nt_|ops_)/i.test(p)
      );
      if (kept.length) out.push([k, kept.join(", ")]);
    } else if (n === "accept-encoding") {
      // Only encodings the proxy can decode: an HTML page it cannot read is not passed on.
      const kept = v.split(",").map((p) => p.trim()).filter((p) =>
        /^(gzip|x-gzip|deflate|br|identity)(\s*;.*)?$/i.test(p)
      );
      if (kept.length) out.push([k, kept.join(", ")]);
    } else if (n === "origin") {
      out.push([k, v === o.cloudOrigin ? devOrigin : v]);
    } else if (n === "referer") {
      const moved = refererToDevice(v, o);
      if (moved) out.push([k, moved]);
    } else {
      out.push([k, v]);
    }
  }
  if (o.upgrade) out.push(["Connection", "Upgrade"]);
  return out;
}

function refererToDevice(v: string, o: RequestHeaderOptions): string | null {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return null;
  }
  if (u.origin !== o.cloudOrigin || !u.pathname.startsWith(o.prefix + "/")) return null;
  return deviceOriginString(o.device) + u.pathname.slice(o.prefix.length) + u.search;
}

/** Where a URL a device sent leads, once a browser has read it. */
export interface PlacedUrl {
  /** The URL to send on: moved under the prefix, or unchanged (relative, or foreign). */
  url: string;
  /** It leads away from the device (another host, port or scheme than http/https). */
  foreign: boolean;
}

/** The URL as a browser reads it: outer spaces and controls cut, tabs and newlines dropped. */
function asBrowserReads(url: string): string {
  // deno-lint-ignore no-control-regex
  return url.replace(/^[\x00-\x20]+|[\x00-\x20]+$/g, "").replace(/[\t\n\r]/g, "");
}

function isDevice(u: URL, device: DeviceOrigin): boolean {
  if (u.protocol !== "http:" && u.protocol !== "https:") return false;
  const bare = device.host.includes(":") ? `[${device.host}]` : device.host;
  if (u.host.toLowerCase() === hostHeader(device).toLowerCase()) return true;
  return u.hostname.toLowerCase() === bare.toLowerCase() &&
    (u.port === "" || u.port === String(device.port));
}

/**
 * Classifies and moves a URL the device sent, reading it as a browser would (`\\` is `/`,
 * `//host` and `/\\host` are other hosts, tabs and newlines vanish): root-relative paths and
 * absolute URLs naming the device itself get the prefix; relative paths stay as they are (they
 * resolve under the prefix already); anything that leads elsewhere is marked foreign.
 */
export function placeUrl(url: string, prefix: string, device: DeviceOrigin): PlacedUrl {
  const t = asBrowserReads(url);
  const base = deviceOriginString(device);
  let resolved: URL;
  try {
    resolved = new URL(t, base + "/");
  } catch {
    return { url, foreign: true };
  }
  if (!isDevice(resolved, device)) return { url, foreign: true };
  const slashed = t.replace(/\\/g, "/");
  const hasScheme = /^[a-z][a-z0-9+.-]*:/i.test(t);
  if (!hasScheme && !slashed.startsWith("/")) return { url, foreign: false };
  if (!slashed.startsWith("//") && !hasScheme && t.startsWith("/")) {
    return { url: t.startsWith(prefix + "/") ? t : prefix + t, foreign: false };
  }
  const path = resolved.pathname + resolved.search + resolved.hash;
  return { url: path.startsWith(prefix + "/") ? path : prefix + path, foreign: false };
}

/**
 * Moves a URL the device sent into the proxy: root-relative paths and absolute URLs naming the
 * device itself get the prefix; anything else (relative paths, other sites) is left alone.
 */
export function urlToProxy(url: string, prefix: string, device: DeviceOrigin): string {
  return placeUrl(url, prefix, device).url;
}

function isRefreshWs(c: string | undefined): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\f" || c === "\r";
}

/**
 * A `Refresh` value's parts as HTML's "shared declarative refresh steps" read them (the header
 * and `<meta http-equiv=refresh content>` alike): `delay` is the time text, `url` the target
 * (null when it only reloads), `valid` false when a browser following the standard would not
 * refresh at all. `others` are further readings a browser might take (Chromium ends a quoted
 * URL at its last quote, not its first; the raw remainder): where a refresh leads is judged on
 * all of them, so a lenient parser cannot be steered past the check.
 */
export function parseRefresh(
  v: string,
): { delay: string; url: string | null; valid: boolean; others: string[] } {
  const n = v.length;
  let p = 0;
  while (p < n && isRefreshWs(v[p])) p++;
  const digits = /^[0-9]*/.exec(v.slice(p))![0];
  const others: string[] = [];
  // The lenient reading: the delay ends at the first separator, the URL is what follows.
  const sep = v.slice(p).search(/[;,\t\n\f\r ]/);
  if (sep >= 0) {
    let rest = v.slice(p + sep).replace(/^[\t\n\f\r ]*[;,]?[\t\n\f\r ]*/, "");
    others.push(rest);
    const m = /^url[\t\n\f\r ]*=[\t\n\f\r ]*/i.exec(rest);
    if (m) rest = rest.slice(m[0].length);
    const q = rest[0];
    if (q === '"' || q === "'") {
      const last = rest.lastIndexOf(q);
      rest = last > 0 ? rest.slice(1, last) : rest.slice(1);
    }
    others.push(rest.trim());
  }
  if (digits === "" && v[p] !== ".") return { delay: "", url: null, valid: false, others };
  p += digits.length;
  const delay = digits || "0";
  while (p < n && (v[p] === "." || (v[p] >= "0" && v[p] <= "9"))) p++;
  if (p < n) {
    if (!isRefreshWs(v[p]) && v[p] !== ";" && v[p] !== ",") {
      return { delay, url: null, valid: false, others };
    }
    while (p < n && isRefreshWs(v[p])) p++;
    if (v[p] === ";" || v[p] === ",") p++;
    while (p < n && isRefreshWs(v[p])) p++;
  }
  if (p >= n) return { delay, url: null, valid: true, others };
  let url = v.slice(p);
  const m = /^url[\t\n\f\r ]*=[\t\n\f\r ]*/i.exec(url);
  if (m) url = url.slice(m[0].length);
  const q = url[0];
  if (q === '"' || q === "'") {
    url = url.slice(1);
    if (url.includes(q)) url = url.slice(0, url.indexOf(q));
  }
  return { delay, url, valid: true, others };
}

/**
 * Where a refresh value leads: null when it only reloads or stays on the device (every reading
 * of it, see parseRefresh), else the foreign address to show instead of following it.
 */
export function foreignRefresh(v: string, prefix: string, device: DeviceOrigin): string | null {
  const r = parseRefresh(v);
  for (const u of [r.url, ...r.others]) {
    if (u && placeUrl(u, prefix, device).foreign) return u;
  }
  return null;
}

/**
 * The foreign address a device response would send the browser to — its `Location` on a
 * redirect, or its `Refresh` — or null. The proxy answers such a response with its own page
 * showing the address as text instead of following it.
 */
export function foreignRedirect(
  status: number,
  raw: [string, string][],
  o: { device: DeviceOrigin; prefix: string },
): string | null {
  for (const [k, v] of raw) {
    const n = k.toLowerCase();
    if (n === "location" && status >= 300 && status < 400) {
      if (placeUrl(v, o.prefix, o.device).foreign) return v;
    } else if (n === "refresh") {
      const away = foreignRefresh(v, o.prefix, o.device);
      if (away !== null) return away;
    }
  }
  return null;
}

/** Rewrites one Set-Cookie value for the proxy, or null when it must be dropped. */
export function rewriteSetCookie(value: string, prefix: string): string | null {
  const parts = value.split(";");
  const nameValue = parts[0];
  const eq = nameValue.indexOf("=");
  const name = (eq >= 0 ? nameValue.slice(0, eq) : nameValue).trim();
  if (!name || /^__(host|secure)-/i.test(name) || CLOUD_COOKIE.test(name)) return null;
  const attrs = parts.slice(1).map((a) => a.trim()).filter((a) => {
    const k = a.split("=")[0].trim().toLowerCase();
    return a && k !== "domain" && k !== "path";
  });
  return [nameValue.trim(), ...attrs, `Path=${prefix}/`].join("; ");
}

/** Options for the response headers toward the browser. */
export interface ResponseHeaderOptions {
  device: DeviceOrigin;
  prefix: string;
  /** Drop Content-Encoding (the body was decoded for rewriting). */
  decoded?: boolean;
  /** Keep Upgrade/Connection (a 101 for a WebSocket). */
  upgrade?: boolean;
}

/** The headers sent to the browser for a device response's headers. */
export function responseHeadersToBrowser(
  raw: [string, string][],
  o: ResponseHeaderOptions,
): [string, string][] {
  const listed = connectionTokens(raw);
  const out: [string, string][] = [];
  for (const [k, v] of raw) {
    const n = k.toLowerCase();
    if (o.upgrade && (n === "upgrade" || n === "connection")) {
      out.push([k, v]);
      continue;
    }
    if (HOP_BY_HOP.has(n) || DROPPED_FROM_DEVICE.has(n) || listed.has(n)) continue;
    if (o.decoded && n === "content-encoding") continue;
    if (n === "location" || n === "content-location") {
      // A foreign address never reaches the browser (see foreignRedirect).
      const p = placeUrl(v, o.prefix, o.device);
      if (!p.foreign) out.push([k, p.url]);
    } else if (n === "refresh") {
      // A foreign one never gets here (foreignRefresh); an invalid one refreshes nowhere.
      const r = parseRefresh(v);
      if (foreignRefresh(v, o.prefix, o.device) !== null || !r.valid) continue;
      if (r.url === null) out.push([k, r.delay]);
      else out.push([k, `${r.delay};url=${placeUrl(r.url, o.prefix, o.device).url}`]);
    } else if (n === "set-cookie") {
      const c = rewriteSetCookie(v, o.prefix);
      if (c) out.push([k, c]);
    } else {
      out.push([k, v]);
    }
  }
  out.push(["Referrer-Policy", "same-origin"]);
  out.push(["Cross-Origin-Opener-Policy", "unsafe-none"]);
  return out;
}
