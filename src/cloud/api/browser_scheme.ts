/**
 * Whether the browser reached a request over https — one answer for the session cookie's
 * `Secure`, the per-device origin's cookie and URLs, and the cloud origin the browser proxy writes
 * into device redirects and links. The HTTP port speaks plain HTTP, so TLS always ends in front of
 * it: at an HTTP proxy, which says so with `X-Forwarded-Proto`, or at a TCP balancer (an AWS NLB
 * TLS listener, HAProxy in `mode tcp`), which says nothing. Behind the latter every request looked
 * like http: cookies without `Secure`, and device redirects rewritten to `http://` addresses the
 * balancer does not serve. So the `--public-url` decides too: when it is https, a request for its
 * own host and port (or for a device origin under `--proxy-domain`) came through it. A node
 * reached directly — by its address, or on its own port — stays http, so signing in there works.
 * @module
 */

/** What a request says about how it arrived. */
export interface ArrivedVia {
  /** The Host header. */
  host?: string;
  /** The X-Forwarded-Proto header (the first value counts, as proxies append). */
  forwardedProto?: string;
  /** Whether the socket itself is TLS (not on the cloud's HTTP port today). */
  encrypted?: boolean;
}

/**
 * True when the browser used https (see the module comment); `originDomain` is the
 * `--proxy-domain` whose hosts count as the public URL's.
 */
export function reachedOverHttps(
  r: ArrivedVia,
  publicUrl: string,
  originDomain?: string,
): boolean {
  if (r.encrypted) return true;
  if (r.forwardedProto?.split(",")[0].trim().toLowerCase() === "https") return true;
  const pub = httpsPublic(publicUrl);
  if (!pub || !r.host) return false;
  const asked = hostOf(r.host);
  if (!asked) return false;
  if (asked.host === pub.host) return true;
  const domain = originDomain?.toLowerCase();
  return !!domain && asked.port === pub.port && asked.hostname.endsWith(`.${domain}`);
}

/** A host as a URL holds it: lowercased, punycoded, the default port dropped. */
interface HostParts {
  host: string;
  hostname: string;
  port: string;
}

/**
 * This runs for every proxied request, and parsing URLs was 6 % of the cloud's CPU under small
 * GETs through `/c/{h}/`: the public URL is parsed once per value, a Host once per value while
 * fewer than {@linkcode HOSTS_REMEMBERED} are remembered (Host is the client's to choose).
 */
let lastPublic: { url: string; parts: HostParts | null } | null = null;
const hosts = new Map<string, HostParts | null>();
const HOSTS_REMEMBERED = 256;

/** The public URL's host when it is https, else null. */
function httpsPublic(publicUrl: string): HostParts | null {
  if (lastPublic?.url !== publicUrl) {
    let parts: HostParts | null = null;
    try {
      const u = new URL(publicUrl);
      if (u.protocol === "https:") parts = { host: u.host, hostname: u.hostname, port: u.port };
    } catch { /* not a URL: not https */ }
    lastPublic = { url: publicUrl, parts };
  }
  return lastPublic.parts;
}

/** A Host header's parts as an https URL would hold them; null when no URL can. */
function hostOf(host: string): HostParts | null {
  const known = hosts.get(host);
  if (known !== undefined) return known;
  let parts: HostParts | null = null;
  try {
    const u = new URL(`https://${host}`);
    parts = { host: u.host, hostname: u.hostname, port: u.port };
  } catch { /* null */ }
  if (hosts.size >= HOSTS_REMEMBERED) hosts.clear();
  hosts.set(host, parts);
  return parts;
}

/** {@linkcode reachedOverHttps} for a node:http request. */
export function nodeRequestOverHttps(
  req: { headers: Record<string, string | string[] | undefined>; socket: unknown },
  publicUrl: string,
  originDomain?: string,
): boolean {
  const one = (v: string | string[] | undefined) => Array.isArray(v) ? v[0] : v;
  return reachedOverHttps(
    {
      host: one(req.headers.host),
      forwardedProto: one(req.headers["x-forwarded-proto"]),
      encrypted: (req.socket as { encrypted?: boolean } | null)?.encrypted === true,
    },
    publicUrl,
    originDomain,
  );
}
