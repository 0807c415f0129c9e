/**
 * The browser proxy's path rule: `/c/{handle}/{rest}` reaches the device at `/{rest}`, and
 * nothing in `rest` may climb out of the prefix. The raw request target is checked as sent
 * (before any URL normalization could fold `..` away), and every spelling of a dot segment or a
 * slash — `..`, `%2e%2e`, `%2f`, `%5c`, `\`, and double encodings like `%252e` — is refused
 * rather than cleaned, so what the device sees is exactly what the browser asked for.
 * @module
 */

/** The proxy's path prefix. */
export const PROXY_PREFIX = "/c/";

/** A parsed proxy request target. */
export type ProxyPath =
  | { ok: true; handle: string; devicePath: string }
  | { ok: false; redirect?: string; message: string };

const HANDLE = /^h-[A-Za-z0-9_-]{6,64}$/;

/** Whether a raw request target is for the proxy. */
export function isProxyPath(rawTarget: string): boolean {
  return rawTarget.startsWith(PROXY_PREFIX);
}

/** Decodes percent-escapes repeatedly (up to 3 levels), for inspection only. */
function decodeDeep(s: string): string {
  let cur = s;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(cur);
    } catch {
      next = cur.replace(/%([0-9a-fA-F]{2})/g, (_m, h) => String.fromCharCode(parseInt(h, 16)));
    }
    if (next === cur) break;
    cur = next;
  }
  return cur;
}

/** Parses and checks a raw request target such as `/c/h-abc/doc/page/login.asp?x=1`. */
export function parseProxyPath(rawTarget: string): ProxyPath {
  if (!rawTarget.startsWith(PROXY_PREFIX)) return { ok: false, message: "not a proxy path" };
  const q = rawTarget.indexOf("?");
  const path = q >= 0 ? rawTarget.slice(0, q) : rawTarget;
  const query = q >= 0 ? rawTarget.slice(q) : "";
  const afterPrefix = path.slice(PROXY_PREFIX.length);
  const slash = afterPrefix.indexOf("/");
  const handle = slash >= 0 ? afterPrefix.slice(0, slash) : afterPrefix;
  if (!HANDLE.test(handle)) return { ok: false, message: "unknown handle" };
  if (slash < 0) {
    return { ok: false, redirect: `${PROXY_PREFIX}${handle}/${query}`, message: "moved" };
  }
  const rest = afterPrefix.slice(slash);
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x20\x7f\\]/.test(rest)) {
    return { ok: false, message: "the path contains characters a device path may not carry" };
  }
  const decoded = decodeDeep(rest);
  // deno-lint-ignore no-control-regex
  if (/[\\\x00]/.test(decoded) || /%2f|%5c/i.test(rest.replace(/%25/gi, "%"))) {
    return { ok: false, message: "encoded slashes are not allowed in a proxied path" };
  }
  for (const seg of decoded.split("/")) {
    if (seg === "." || seg === "..") {
      return { ok: false, message: "dot segments are not allowed in a proxied path" };
    }
  }
  return { ok: true, handle, devicePath: rest + query };
}
