/**
 * The browser proxy `/c/{handle}/…`: one HTTP exchange from a browser to a device through its
 * agent. Policy first and once — path rule, request hygiene, isolation checks, authentication,
 * the handle in the caller's tenant — then the device connection (pooled per handle), the request
 * head with cloud credentials stripped, the body streamed, the response head rewritten, and the
 * body either streamed untouched (MJPEG, chunked, downloads) or, for HTML and CSS only, decoded
 * and rewritten to live under the prefix. Failures answer with the guide's statuses and words:
 * 503 "agent reconnecting", 502 device unreachable, 504 device too slow, 403 "Target not in
 * allowlist".
 * @module
 */
import type { ProxyRequest, ProxyResponse } from "./browser_io.ts";
import * as zlib from "node:zlib";
import { Buffer } from "node:buffer";
import { AppError, CATALOGUE, toErrorResponse } from "../../../shared/errors.ts";
import { authenticate, type Principal, TUNNEL_KINDS } from "../../tenancy/auth.ts";
import { type Authorized, authorizeHandle, type RouteDeps } from "../route.ts";
import { parseProxyPath } from "./path.ts";
import { checkProxyRequest, fetchFacts } from "../../tenancy/isolation.ts";
import {
  type DeviceOrigin,
  foreignRedirect,
  hostHeader,
  requestHeadersToDevice,
  responseHeadersToBrowser,
} from "./headers.ts";
import {
  DeviceProtocolError,
  headerValue,
  readBody,
  readResponseHead,
  responseFraming,
  type ResponseHead,
  reusable,
  writeBody,
  writeRequestHead,
} from "./http1.ts";
import type { DeviceConn, DeviceConnPool } from "./device_conn.ts";
import { rewriteCss, rewriteHtml } from "./rewrite.ts";
import { admissionCacheOf, admissionKey } from "./admit_cache.ts";
import { shimTag } from "./shim.ts";
import { leavingPage, leavingTarget } from "./leaving.ts";
import { pageEncoding, sniffsAsHtml, utf8ContentType } from "./charset.ts";
import type { DeviceLogin } from "./device_login.ts";
import { handOver, type OriginSigner } from "./origin.ts";
import { SECURITY_HEADERS } from "../../api/middleware/security_headers.ts";
import { logStoreFailure } from "../../store/outage.ts";
import { deadlinesOf } from "../../../shared/deadlines.ts";
import { nodeRequestOverHttps } from "../../api/browser_scheme.ts";
import { escapeHtml } from "../../../shared/encoding.ts";

/** What the proxy needs. */
export interface ProxyDeps extends RouteDeps {
  pool: DeviceConnPool;
  /** How long a device may take to start its response (504 after). */
  responseTimeoutMs: number;
  /** Answers device password prompts with cloud-held credentials (absent: never). */
  login?: DeviceLogin;
  /** Per-handle origins (`--proxy-domain`); absent: path-prefix mode only. */
  origins?: { domain: string; signer: OriginSigner };
  /** The cloud's `--public-url` (which scheme the browser used: browser_scheme.ts). */
  publicUrl: () => string;
}

/** The largest HTML/CSS body the proxy buffers to rewrite; larger ones pass untouched. */
export const MAX_REWRITE_BYTES = 8 << 20;

/** Bodies up to this size with a Content-Length are sent together with the head. */
const SMALL_BODY_BYTES = 64 << 10;

const CLOUD_AUTH_HEADERS = ["cookie", "x-license", "x-user-id", "x-api-key", "x-admin-api-key"];

/** Pairs of a node request's raw headers. */
export function rawPairs(req: ProxyRequest): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    out.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
  }
  return out;
}

/** The cloud's origin as this browser reached it (`publicUrl`: see browser_scheme.ts). */
export function cloudOrigin(req: ProxyRequest, publicUrl: string): string {
  const proto = nodeRequestOverHttps(req, publicUrl) ? "https" : "http";
  return `${proto}://${req.headers.host ?? "localhost"}`;
}

/** Request smuggling guards the HTTP parser may not cover; a message when refused. */
export function hygiene(raw: [string, string][]): string | null {
  const te = raw.filter(([k]) => k.toLowerCase() === "transfer-encoding");
  const cl = raw.filter(([k]) => k.toLowerCase() === "content-length");
  if (te.length && cl.length) return "Content-Length together with Transfer-Encoding";
  if (cl.length > 1) return "more than one Content-Length";
  if (te.length > 1 || (te.length && te[0][1].trim().toLowerCase() !== "chunked")) {
    return "unsupported Transfer-Encoding";
  }
  if (cl.length && !/^\d{1,15}$/.test(cl[0][1].trim())) return "invalid Content-Length";
  return null;
}

/** Authenticates the cloud credential of a proxied request (never the device's own). */
export async function proxyPrincipal(
  d: RouteDeps,
  req: ProxyRequest,
  handle: string,
): Promise<Principal | null> {
  const headers = new Headers();
  for (const n of CLOUD_AUTH_HEADERS) {
    const v = req.headers[n];
    if (typeof v === "string") headers.set(n, v);
  }
  const authz = req.headers.authorization;
  if (authz && /^bearer\s/i.test(authz)) headers.set("authorization", authz);
  const xff = req.headers["x-forwarded-for"];
  if (typeof xff === "string") headers.set("x-forwarded-for", xff);
  // The query and the method are the device's business; authenticate the bare prefix.
  const probe = new Request(`http://proxy/c/${handle}/`, { headers });
  const principal = await authenticate(d.store, probe, {
    ...d.authContext?.(),
    remote: req.socket.remoteAddress ?? "",
    now: d.clock.now(),
  });
  if (principal && !TUNNEL_KINDS.includes(principal.kind)) {
    throw new AppError("forbidden", "this credential cannot open devices");
  }
  return principal;
}

function wantsHtml(req: ProxyRequest): boolean {
  return req.headers["sec-fetch-mode"] === "navigate" ||
    /text\/html/.test(req.headers.accept ?? "");
}

/** The small page a browser navigation gets instead of `{error, message}`. */
export function errorPage(status: number, message: string): string {
  return `<!doctype html><meta charset="utf-8"><title>${status} — Nanodems Connector</title>` +
    `<body style="font-family:sans-serif;max-width:40em;margin:4em auto">` +
    `<h1>${status}</h1><p>${escapeHtml(message)}</p></body>`;
}

/** Answers an error: JSON `{error, message}`, or a small page for a browser navigation. */
export function sendError(
  req: ProxyRequest,
  res: ProxyResponse,
  status: number,
  error: string,
  message: string,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const html = wantsHtml(req);
  const body = html ? errorPage(status, message) : JSON.stringify({ error, message });
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": html ? "text/html; charset=utf-8" : "application/json",
    "cache-control": "no-store",
    "content-length": Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

/**
 * The cloud's own answer in place of a device response that would send the browser elsewhere:
 * the device's status, no Location or Refresh, and a small page (or `{error, message, location}`
 * for API clients) that shows the address as text and does not follow it.
 */
function sendForeignRedirect(
  req: ProxyRequest,
  res: ProxyResponse,
  status: number,
  location: string,
): void {
  const message = CATALOGUE.foreign_redirect.message;
  const html = wantsHtml(req);
  const body = html
    ? leavingPage(location)
    : JSON.stringify({ error: "foreign_redirect", message, location: location.slice(0, 2048) });
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": html ? "text/html; charset=utf-8" : "application/json",
    "cache-control": "no-store",
    "content-length": req.method === "HEAD" ? 0 : Buffer.byteLength(body),
  });
  res.end(req.method === "HEAD" ? undefined : body);
}

/** Maps a failure to the guide's status and message. */
function failure(e: unknown): { status: number; error: string; message: string } {
  if (e instanceof DeviceProtocolError) {
    return { status: 502, error: "device_unreachable", message: `device error: ${e.message}` };
  }
  const { status, body } = toErrorResponse(e);
  return { status, error: body.error, message: body.message };
}

function headerGetter(req: ProxyRequest): (n: string) => string | null {
  return (n) => {
    const v = req.headers[n];
    return typeof v === "string" ? v : Array.isArray(v) ? v[0] : null;
  };
}

/** The policy part shared by plain requests and WebSocket upgrades; throws or returns the target. */
export async function admit(
  d: RouteDeps,
  req: ProxyRequest,
  handle: string,
): Promise<{ principal: Principal | null; target: Authorized | null; refusal?: string }> {
  const refusal = checkProxyRequest(handle, fetchFacts(req.method ?? "GET", headerGetter(req)));
  if (refusal) return { principal: null, target: null, refusal: refusal.message };
  const key = admissionKey(req, handle);
  const cache = admissionCacheOf(d.store);
  const hit = key ? cache.get(key, d.clock.now()) : null;
  if (hit) return hit;
  const principal = await proxyPrincipal(d, req, handle);
  if (!principal) return { principal: null, target: null };
  const target = await authorizeHandle(d, principal, handle);
  if (key) cache.set(key, { principal, target }, d.clock.now());
  return { principal, target };
}

/**
 * Opens a device connection for a principal and audits it (`tunnel.open`, path "proxy"): one
 * entry per tunnel, not per request — pooled connections carry many requests.
 */
export async function openAudited(
  d: ProxyDeps,
  principal: Principal,
  target: Authorized,
  scheme: "http" | "https",
  path: "proxy" | "proxy-upgrade" = "proxy",
): Promise<DeviceConn> {
  const dc = await d.pool.open(target, scheme);
  d.store.appendAudit({
    tenantId: target.handle.tenantId,
    actor: principal.actor,
    action: "tunnel.open",
    target: target.handle.id,
    detail: {
      path,
      device: target.device.id,
      host: target.device.host,
      port: target.handle.port,
      agent: dc.tunnel.agentId,
      tunnel: dc.tunnel.tunnelId,
      via: principal.kind,
      scheme,
    },
  }).catch((e) => logStoreFailure(d.log, e, "audit write failed"));
  return dc;
}

/** Reads the response head within the timeout, or throws 504. */
export async function headWithin(dc: DeviceConn, ms: number): Promise<ResponseHead> {
  let cancel: (() => void) | undefined;
  try {
    return await Promise.race([
      readResponseHead(dc.reader),
      new Promise<never>((_r, reject) => {
        cancel = deadlinesOf(ms).start(() => reject(new AppError("device_timeout")));
      }),
    ]);
  } finally {
    cancel?.();
  }
}

/** The largest decoded page the proxy rewrites (a small compressed body may inflate a lot). */
const MAX_DECODED_BYTES = 2 * MAX_REWRITE_BYTES;

function decode(body: Uint8Array, encoding: string): Uint8Array | null {
  const e = encoding.trim().toLowerCase();
  const bound = { maxOutputLength: MAX_DECODED_BYTES };
  try {
    if (e === "" || e === "identity") return body;
    if (e === "gzip" || e === "x-gzip") return zlib.gunzipSync(body, bound);
    if (e === "deflate") return zlib.inflateSync(body, bound);
    if (e === "br") return zlib.brotliDecompressSync(body, bound);
  } catch {
    return null;
  }
  return null;
}

function writeHead(
  res: ProxyResponse,
  status: number,
  reason: string,
  headers: [string, string][],
): void {
  if (res.writeHeadPairs) return res.writeHeadPairs(status, reason, headers);
  const grouped = new Map<string, { name: string; values: string[] }>();
  for (const [k, v] of headers) {
    const key = k.toLowerCase();
    const g = grouped.get(key) ?? { name: k, values: [] };
    g.values.push(v);
    grouped.set(key, g);
  }
  for (const { name, values } of grouped.values()) {
    res.setHeader(name, values.length === 1 ? values[0] : values);
  }
  res.writeHead(status, reason || undefined);
}

function waitDrain(res: ProxyResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}

async function* requestBody(req: ProxyRequest): AsyncGenerator<Uint8Array> {
  for await (const chunk of req) yield chunk as Uint8Array;
}

/** Serves one request under `/c/{handle}/` (path-prefix mode, or the hand-over to an origin). */
export async function serveProxy(
  d: ProxyDeps,
  req: ProxyRequest,
  res: ProxyResponse,
): Promise<void> {
  const rawTarget = req.url ?? "/";
  const parsed = parseProxyPath(rawTarget);
  if (!parsed.ok) {
    if (parsed.redirect) {
      res.writeHead(308, { location: parsed.redirect, "content-length": 0 });
      res.end();
      return;
    }
    const notFound = parsed.message === "unknown handle";
    sendError(
      req,
      res,
      notFound ? 404 : 400,
      notFound ? "unknown_handle" : "bad_request",
      parsed.message,
    );
    return;
  }
  const raw = rawPairs(req);
  const bad = hygiene(raw);
  if (bad) {
    sendError(req, res, 400, "bad_request", `refused: ${bad}`, { connection: "close" });
    return;
  }
  try {
    const { principal, target, refusal } = await admit(d, req, parsed.handle);
    if (refusal) {
      sendError(req, res, 403, "forbidden", refusal, {
        "cross-origin-opener-policy": "same-origin",
      });
      return;
    }
    if (!principal || !target) {
      if (wantsHtml(req) && (req.method === "GET" || req.method === "HEAD")) {
        res.writeHead(302, {
          location: `/login?next=${encodeURIComponent(rawTarget)}`,
          "cache-control": "no-store",
          "content-length": 0,
        });
        res.end();
        return;
      }
      throw new AppError("auth_required");
    }
    if (d.origins && (req.method === "GET" || req.method === "HEAD")) {
      // Per-handle origins: hand the browser over to the device's own origin.
      const location = await handOver(d, req, principal, parsed.handle, parsed.devicePath);
      if (location) {
        res.writeHead(302, { location, "cache-control": "no-store", "content-length": 0 });
        res.end();
        return;
      }
    }
    await exchange(d, req, res, {
      raw,
      devicePath: parsed.devicePath,
      prefix: `/c/${parsed.handle}`,
      principal,
      target,
    });
  } catch (e) {
    sendFailure(d, req, res, e);
  }
}

function sendFailure(
  d: ProxyDeps,
  req: ProxyRequest,
  res: ProxyResponse,
  e: unknown,
): void {
  const f = failure(e);
  if (f.status >= 500 && !(e instanceof AppError) && !(e instanceof DeviceProtocolError)) {
    // A browser that went away mid-request is no fault of the node's.
    const gone = req.destroyed || req.aborted || (e as Error)?.message === "aborted";
    if (gone) d.log.info({ err: (e as Error).message }, "proxy request ended by the client");
    else d.log.error({ err: (e as Error).message }, "proxy request failed");
  }
  sendError(req, res, f.status, f.error, f.message);
}

/** A request that passed every check: what to ask the device, and for whom. */
export interface Admitted {
  /** The browser's raw headers. */
  raw: [string, string][];
  /** The path (and query) on the device. */
  devicePath: string;
  /** `/c/{h}` in path-prefix mode, "" on a device's own origin. */
  prefix: string;
  principal: Principal;
  target: Authorized;
}

/** One authorized exchange with the device: request out, response back (rewritten if needed). */
export async function exchange(
  d: ProxyDeps,
  req: ProxyRequest,
  res: ProxyResponse,
  x: Admitted,
): Promise<void> {
  const { raw, prefix, principal, target } = x;
  let dc: DeviceConn | null = null;
  // A browser that leaves before its answer is out frees the device at once: the connection is
  // closed under whatever waits on it (the head, a body to rewrite), not held for the proxy
  // timeout, which a camera serving a handful of connections could not spare.
  let left = false;
  const onLeave = () => {
    if (res.writableFinished) return;
    left = true;
    if (dc) d.pool.close(dc);
  };
  res.on("close", onLeave);
  try {
    const method = (req.method ?? "GET").toUpperCase();
    const away = leavingTarget(x.devicePath);
    if (away !== null && (method === "GET" || method === "HEAD")) {
      // The page a rewritten meta refresh points at: the cloud's, never the device's.
      sendForeignRedirect(req, res, 200, away);
      return;
    }
    const hasBody = req.headers["content-length"] !== undefined
      ? Number(req.headers["content-length"]) > 0
      : req.headers["transfer-encoding"] !== undefined;
    let device = d.pool.origin(target);
    let head: ResponseHead | null = null;
    // The browser's own answer to the device's prompt wins over the cloud-held credentials.
    const ownAuth = raw.some(([k, v]) =>
      k.toLowerCase() === "authorization" && !/^bearer\s/i.test(v)
    );
    const login = ownAuth ? undefined : d.login;
    // Bodiless requests may reuse an idle connection and retry once if it turns out dead; a
    // device on an unusual port that answers plain HTTP with TLS is retried over TLS.
    for (let attempt = 0; attempt < 3 && !head; attempt++) {
      const guessing = d.pool.guessing(target);
      const pooled = !hasBody && attempt === 0 ? d.pool.take(target.handle.id) : null;
      const headers = requestHeadersToDevice(raw, {
        device,
        prefix,
        cloudOrigin: cloudOrigin(req, d.publicUrl()),
      });
      if (hasBody) {
        if (req.headers["content-length"] !== undefined) {
          headers.push(["Content-Length", String(req.headers["content-length"])]);
        } else headers.push(["Transfer-Encoding", "chunked"]);
      }
      dc = pooled ?? await openAudited(d, principal, target, device.scheme);
      dc.uses++;
      if (left) throw new BrowserLeft();
      try {
        const pre = await login?.preemptive(target, principal, dc, method, x.devicePath);
        if (pre) headers.push(["Authorization", pre]);
        await writeRequestHead(dc.conn, method, x.devicePath, headers);
        if (hasBody) await writeBody(dc.conn, requestBody(req), !req.headers["content-length"]);
        head = await headWithin(dc, d.responseTimeoutMs);
        if (guessing) d.pool.learn(target, device.scheme);
      } catch (e) {
        d.pool.close(dc);
        dc = null;
        if (left) throw new BrowserLeft();
        const protocol = e instanceof DeviceProtocolError;
        if (pooled && (protocol || !(e instanceof AppError))) continue;
        if (protocol && guessing && !hasBody && device.scheme === "http") {
          device = { ...device, scheme: "https" };
          continue;
        }
        throw e;
      }
    }
    if (!head || !dc) throw new AppError("device_unreachable", "device closed the connection");
    if (head.status === 401 && login && !hasBody) {
      const value = await login.answer(target, principal, dc, head, method, x.devicePath);
      if (value) {
        // Finish the 401, then ask again with the answer (same connection when it allows).
        const framing = responseFraming(method, head);
        for await (const _ of bodyWithin(d, dc, framing)) { /* discarded */ }
        if (!reusable(head, framing)) {
          d.pool.close(dc);
          dc = await openAudited(d, principal, target, device.scheme);
          if (left) throw new BrowserLeft();
        }
        const headers = requestHeadersToDevice(raw, {
          device,
          prefix,
          cloudOrigin: cloudOrigin(req, d.publicUrl()),
        });
        headers.push(["Authorization", value]);
        await writeRequestHead(dc.conn, method, x.devicePath, headers);
        head = await headWithin(dc, d.responseTimeoutMs);
      }
    }
    await relayResponse(d, req, res, dc, head, principal, {
      method,
      prefix,
      device,
      handleId: target.handle.id,
    });
    dc = null;
  } catch (e) {
    if (dc) d.pool.close(dc);
    if (left) {
      d.log.info({ handle: target.handle.id }, "proxy request ended by the client");
      return;
    }
    sendFailure(d, req, res, e);
  } finally {
    res.off("close", onLeave);
  }
}

/** The browser left while its request was served (nothing is left to answer). */
class BrowserLeft extends Error {
  constructor() {
    super("the browser left before its answer");
  }
}

/**
 * The device's body, read as `readBody` does, ended as a device fault when the device sends nothing
 * for the response timeout (`--proxy-timeout`). A device that stops in the middle of its answer
 * (a length it does not keep, a chunk that never comes) held the browser's connection and its
 * descriptor for good, even after the browser left. Only the wait for the device counts: time the
 * caller spends writing to a slow browser does not.
 */
async function* bodyWithin(
  d: ProxyDeps,
  dc: DeviceConn,
  framing: ReturnType<typeof responseFraming>,
): AsyncGenerator<Uint8Array> {
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const it = readBody(dc.reader, framing)[Symbol.asyncIterator]();
  try {
    for (;;) {
      timer = setTimeout(() => {
        stalled = true;
        d.pool.close(dc);
      }, d.responseTimeoutMs);
      let next;
      try {
        next = await it.next();
      } catch (e) {
        if (stalled) throw new DeviceProtocolError("the device stopped sending its answer");
        throw e;
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      if (stalled) throw new DeviceProtocolError("the device stopped sending its answer");
      yield next.value;
    }
  } finally {
    await it.return?.(undefined);
  }
}

async function relayResponse(
  d: ProxyDeps,
  req: ProxyRequest,
  res: ProxyResponse,
  dc: DeviceConn,
  head: ResponseHead,
  principal: Principal,
  o: { method: string; prefix: string; device: DeviceOrigin; handleId: string },
): Promise<void> {
  const away = foreignRedirect(head.status, head.headers, o);
  if (away !== null) {
    // Nothing of a response that leads elsewhere reaches the browser, not even its body.
    d.pool.close(dc);
    sendForeignRedirect(req, res, head.status, away);
    return;
  }
  const framing = responseFraming(o.method, head);
  const type = (headerValue(head.headers, "content-type") ?? "").toLowerCase();
  // XML documents (SVG, XHTML, XML) can hold an XHTML meta refresh too: read like HTML, with
  // no raw-text elements and no shim for the ones that are not XHTML (a script would break them).
  const xml = /^(application\/xhtml\+xml|image\/svg\+xml|text\/xml|application\/xml)\b/.test(
    type,
  );
  const kind = type.startsWith("text/html") || xml
    ? "html"
    : type.startsWith("text/css")
    ? "css"
    : null;
  const encoding = headerValue(head.headers, "content-encoding") ?? "";
  const tooBig = framing.kind === "length" && framing.length > MAX_REWRITE_BYTES;
  const readable = ["", "identity", "gzip", "x-gzip", "deflate", "br"].includes(
    encoding.trim().toLowerCase(),
  );
  if (kind === "html" && framing.kind !== "none" && (tooBig || !readable)) {
    // An HTML page the proxy cannot rewrite could carry a meta refresh off the cloud's origin.
    throw new DeviceProtocolError(
      tooBig ? "page too large to rewrite" : `page in an encoding the proxy cannot read`,
    );
  }
  // No type: a browser would sniff; a page that sniffs as HTML is read as one, the rest nosniff.
  const typeless = !type.trim() || /^(unknown\/unknown|application\/unknown|\*\/\*)/.test(type);
  const sniff = typeless && framing.kind === "length" && o.method !== "HEAD";
  const rewrite = (kind !== null || sniff) && framing.kind !== "none" && !tooBig && readable;

  if (rewrite) {
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const part of bodyWithin(d, dc, framing)) {
      parts.push(part);
      size += part.length;
      if (size > MAX_REWRITE_BYTES) throw new DeviceProtocolError("page too large to rewrite");
    }
    const raw = Buffer.concat(parts);
    const plain = decode(raw, encoding);
    const page = kind ?? (plain && sniffsAsHtml(plain) ? "html" : null);
    if (!plain && page === "html") throw new DeviceProtocolError("page could not be decoded");
    let out: Uint8Array = raw;
    let decoded = false;
    const rawType = headerValue(head.headers, "content-type") ?? "";
    if (plain && page !== null) {
      // Decoded as the browser would, sent as UTF-8 (see charset.ts).
      const text = new TextDecoder(page === "html" ? pageEncoding(rawType, plain) : "utf-8")
        .decode(plain);
      const rewritten = page === "html"
        ? rewriteHtml(text, {
          prefix: o.prefix,
          device: o.device,
          xml,
          inject: xml && !type.startsWith("application/xhtml") ? "" : shimTag({
            prefix: o.prefix,
            deviceAuthorities: [hostHeader(o.device), `${o.device.host}:${o.device.port}`],
          }),
        })
        : rewriteCss(text, o.prefix, o.device);
      out = new TextEncoder().encode(rewritten);
      decoded = true;
    }
    const headers = responseHeadersToBrowser(head.headers, {
      device: o.device,
      prefix: o.prefix,
      decoded,
    });
    headers.push(["Content-Length", String(out.length)]);
    if (decoded && page === "html") {
      const i = headers.findIndex(([k]) => k.toLowerCase() === "content-type");
      if (i >= 0) headers[i] = [headers[i][0], utf8ContentType(rawType)];
      else headers.push(["Content-Type", utf8ContentType(rawType)]);
    } else if (typeless) headers.push(["X-Content-Type-Options", "nosniff"]);
    writeHead(res, head.status, head.reason, headers);
    res.end(out);
    finish(d, dc, head, framing, o.handleId);
    return;
  }

  const headers = responseHeadersToBrowser(head.headers, { device: o.device, prefix: o.prefix });
  if (framing.kind === "length") headers.push(["Content-Length", String(framing.length)]);
  if (typeless) headers.push(["X-Content-Type-Options", "nosniff"]);
  writeHead(res, head.status, head.reason, headers);
  if (o.method === "HEAD" || framing.kind === "none") {
    res.end();
    finish(d, dc, head, framing, o.handleId);
    return;
  }
  // A small body of known length goes out with the head in one write (a write per piece costs
  // a syscall each, and small responses are most of what a camera UI loads).
  if (framing.kind === "length" && framing.length <= SMALL_BODY_BYTES) {
    // Nearly always here already, with the head.
    let body = dc.reader.takeNow(framing.length);
    if (!body) {
      const parts: Uint8Array[] = [];
      for await (const part of bodyWithin(d, dc, framing)) parts.push(part);
      body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
    res.end(body);
    finish(d, dc, head, framing, o.handleId);
    return;
  }
  // Stream: one write per chunk the device sends (MJPEG frames arrive as they are made).
  res.flushHeaders();
  let aborted = false;
  const onClose = () => {
    if (!res.writableFinished) aborted = true;
  };
  res.on("close", onClose);
  // A long stream (MJPEG, a download) ends when its credential is revoked.
  const unlive = d.live?.add(principal, () => {
    aborted = true;
    d.pool.close(dc);
    res.destroy();
  }, { kind: "proxied stream", handleId: o.handleId, startedAt: d.clock.now() });
  try {
    for await (const part of bodyWithin(d, dc, framing)) {
      if (aborted) break;
      if (!res.write(part) && !(await waitDrain(res))) {
        aborted = true;
        break;
      }
    }
  } catch (e) {
    d.pool.close(dc);
    res.destroy(e as Error);
    return;
  } finally {
    res.off("close", onClose);
    unlive?.();
  }
  if (aborted) {
    d.pool.close(dc);
    return;
  }
  res.end();
  finish(d, dc, head, framing, o.handleId);
}

function finish(
  d: ProxyDeps,
  dc: DeviceConn,
  head: ResponseHead,
  framing: ReturnType<typeof responseFraming>,
  handleId: string,
): void {
  if (reusable(head, framing)) d.pool.release(handleId, dc);
  else d.pool.close(dc);
}
