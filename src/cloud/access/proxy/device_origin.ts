/**
 * Requests that arrive on a device's own origin (`{label}.{proxy domain}`, see origin.ts): the
 * grant hand-over (`/__nc/grant`), then every path of that origin is the device's path — no
 * prefix, so camera UIs work as on their LAN. Who is asking comes from a credential header
 * (Bearer, license, admin key) or from the origin's own signed cookie, whose credential is
 * re-checked on every request; a browser without either is sent back through the cloud's
 * `/c/{h}/…` to sign in and be handed over again. The origin itself is the isolation: the
 * browser keeps other devices and the cloud out of reach, and the cloud's cookies never arrive.
 * @module
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import type { ProxyRequest, ProxyResponse } from "./browser_io.ts";
import { AppError } from "../../../shared/errors.ts";
import { readCookie } from "../../tenancy/auth.ts";
import type { Principal } from "../../tenancy/auth.ts";
import { authorizeHandle } from "../route.ts";
import { stillValid } from "../live.ts";
import { parseProxyPath } from "./path.ts";
import {
  type Admitted,
  exchange,
  hygiene,
  type ProxyDeps,
  proxyPrincipal,
  rawPairs,
  sendError,
} from "./proxy.ts";
import { answer, fail, upgradeTo } from "./upgrade.ts";
import { requireSameOriginUpgrade } from "../ws_origin.ts";
import {
  DEVICE_COOKIE,
  DEVICE_COOKIE_TTL_MS,
  GRANT_PATH,
  type OriginSigner,
  principalOf,
} from "./origin.ts";
import { nodeRequestOverHttps } from "../../api/browser_scheme.ts";

/** A same-origin relative path to continue at, or "/". */
function safePath(next: string | null): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) return "/";
  // deno-lint-ignore no-control-regex
  return /[\x00-\x1f\x7f]/.test(next) ? "/" : next;
}

function header(req: ProxyRequest, name: string): string | null {
  const v = req.headers[name];
  return typeof v === "string" ? v : Array.isArray(v) ? v[0] : null;
}

/** Browser checks on a device origin: no service workers; from other sites, navigation only. */
function browserRefusal(req: ProxyRequest): string | null {
  if (header(req, "service-worker")) return "service workers are not allowed under the proxy";
  const site = header(req, "sec-fetch-site");
  if (!site || site === "none" || site === "same-origin") return null;
  const method = (req.method ?? "GET").toUpperCase();
  if (header(req, "sec-fetch-mode") === "navigate" && (method === "GET" || method === "HEAD")) {
    return null;
  }
  return "requests from other sites into the device are refused";
}

/**
 * The caller on a device origin: a credential header, or the origin's cookie (re-checked);
 * `viaCookie` says which (a cookie-authenticated upgrade must come from this origin).
 */
async function originPrincipal(
  d: ProxyDeps & { origins: { signer: OriginSigner } },
  req: ProxyRequest,
  handle: string,
): Promise<{ principal: Principal; viaCookie: boolean } | null> {
  const fromHeaders = await proxyPrincipal(d, req, handle);
  if (fromHeaders) return { principal: fromHeaders, viaCookie: fromHeaders.kind === "session" };
  const cookie = header(req, "cookie");
  const token = cookie
    ? readCookie(new Request("http://x/", { headers: { cookie } }), DEVICE_COOKIE)
    : null;
  if (!token) return null;
  const now = d.clock.now();
  const claims = await d.origins.signer.verify("cookie", token, now);
  if (!claims || claims.handle !== handle) return null;
  const p = principalOf(claims);
  return await stillValid(d.store, p, now) ? { principal: p, viaCookie: true } : null;
}

/** The checks every request on a device origin passes; a refusal, or what was admitted. */
async function admitOrigin(
  d: ProxyDeps & { origins: { signer: OriginSigner } },
  req: ProxyRequest,
  handle: string,
): Promise<
  { refusal: { status: number; error: string; message: string } } | {
    refusal?: undefined;
    admitted: Admitted | null;
    devicePath: string;
    viaCookie?: boolean;
  }
> {
  const rawTarget = req.url ?? "/";
  const parsed = rawTarget.startsWith("/")
    ? parseProxyPath(`/c/${handle}${rawTarget}`)
    : { ok: false as const, message: "expected a path" };
  if (!parsed.ok) {
    return { refusal: { status: 400, error: "bad_request", message: parsed.message } };
  }
  const raw = rawPairs(req);
  const bad = hygiene(raw);
  if (bad) return { refusal: { status: 400, error: "bad_request", message: `refused: ${bad}` } };
  const refusal = browserRefusal(req);
  if (refusal) return { refusal: { status: 403, error: "forbidden", message: refusal } };
  const who = await originPrincipal(d, req, handle);
  if (!who) return { admitted: null, devicePath: parsed.devicePath };
  const { principal, viaCookie } = who;
  const target = await authorizeHandle(d, principal, handle);
  return {
    admitted: { raw, devicePath: parsed.devicePath, prefix: "", principal, target },
    devicePath: parsed.devicePath,
    viaCookie,
  };
}

function redirect(res: ProxyResponse, location: string, cookie?: string): void {
  res.writeHead(302, {
    location,
    "cache-control": "no-store",
    "content-length": 0,
    ...(cookie ? { "set-cookie": cookie } : {}),
  });
  res.end();
}

/** Serves a request on a device origin. */
export async function serveOrigin(
  d: ProxyDeps,
  req: ProxyRequest,
  res: ProxyResponse,
  handle: string,
  cloudBase: () => string,
): Promise<void> {
  const origins = d.origins;
  if (!origins) return sendError(req, res, 404, "not_found", "not found");
  const od = { ...d, origins };
  const rawTarget = req.url ?? "/";
  try {
    if (rawTarget.split("?")[0] === GRANT_PATH) {
      const u = new URL(rawTarget, "http://device.invalid");
      const now = d.clock.now();
      const claims = await origins.signer.consumeGrant(u.searchParams.get("g") ?? "", now, d.store);
      if (
        !claims || claims.handle !== handle || !await stillValid(d.store, principalOf(claims), now)
      ) {
        return sendError(
          req,
          res,
          403,
          "forbidden",
          "This link has expired or was already used; open the device again from its site page.",
        );
      }
      const secure = nodeRequestOverHttps(req, cloudBase(), origins.domain);
      const value = await origins.signer.sign("cookie", {
        handle,
        exp: now + DEVICE_COOKIE_TTL_MS,
        principal: claims.principal,
      });
      const cookie = `${DEVICE_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${
        DEVICE_COOKIE_TTL_MS / 1000
      }${secure ? "; Secure" : ""}`;
      return redirect(res, safePath(u.searchParams.get("next")), cookie);
    }
    const a = await admitOrigin(od, req, handle);
    if (a.refusal) {
      const { status, error, message } = a.refusal;
      return sendError(
        req,
        res,
        status,
        error,
        message,
        status === 400 ? { connection: "close" } : {},
      );
    }
    if (!a.admitted) {
      const method = (req.method ?? "GET").toUpperCase();
      if (header(req, "sec-fetch-mode") === "navigate" && (method === "GET" || method === "HEAD")) {
        // Sign in (or pick up the session) at the cloud, which hands the browser back.
        return redirect(res, `${cloudBase()}/c/${handle}${a.devicePath}`);
      }
      throw new AppError("auth_required");
    }
    await exchange(d, req, res, a.admitted);
  } catch (e) {
    const status = e instanceof AppError ? e.httpStatus : 500;
    const error = e instanceof AppError ? e.code : "internal";
    const message = e instanceof AppError ? e.message : "internal error";
    if (status === 500) d.log.error({ err: (e as Error).message }, "device origin failed");
    sendError(req, res, status, error, message);
  }
}

/** Serves an upgrade (WebSocket) on a device origin. */
export async function serveOriginUpgrade(
  d: ProxyDeps,
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  handle: string,
): Promise<void> {
  const origins = d.origins;
  if (!origins) return answer(socket, 404, "Not Found", { error: "not_found", message: "no" });
  try {
    const a = await admitOrigin({ ...d, origins }, req, handle);
    if (a.refusal) {
      const { status, error, message } = a.refusal;
      return answer(socket, status, status === 400 ? "Bad Request" : "Forbidden", {
        error,
        message,
      });
    }
    if (!a.admitted) throw new AppError("auth_required");
    if (a.viaCookie) requireSameOriginUpgrade(header(req, "origin"), req.headers.host);
    await upgradeTo(d, req, socket, head, a.admitted);
  } catch (e) {
    fail(socket, e);
  }
}
