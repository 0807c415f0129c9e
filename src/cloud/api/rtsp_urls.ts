/**
 * `POST /api/handles/{handle}/rtsp-url`: mints a signed, expiring RTSP URL for a player that
 * cannot send a bearer header (VLC, ffmpeg, an NVR): bound to the caller (a signed-in user, or
 * a user's API token) and to the handle, 12 h by default, and useless once that user or token
 * loses access (checked by the gateway at each connection). Audited as `rtsp_url.mint`. A path
 * given is remembered as the port's stream path (the console's RTSP pill offers it next time);
 * without one, the remembered path is used. A `subPath` given is remembered as the port's
 * sub-stream (what the live grid and the thumbnails play). When the port has a sub-stream other
 * than the main one, the answer also carries `subUrl`: the same signature on the sub-stream's
 * path, for a recorder that takes a second, lighter stream per camera.
 * @module
 */
import { Hono } from "hono";
import { AppError } from "../../shared/errors.ts";
import { authorizeHandle, type RouteDeps } from "../access/route.ts";
import { RTSP_URL_TTL_MS, type RtspUrlSigner } from "../access/rtsp/signed_url.ts";
import { hashToken } from "../../shared/crypto/token.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { rtspUrlBody } from "./schemas.ts";
import type { DevicePatch } from "../store/store.ts";

/** What the route needs. */
export interface RtspUrlDeps extends RouteDeps {
  signer: RtspUrlSigner;
  /** `rtsp://host:port` operators reach the gateway at. */
  rtspBase: () => string;
}

/** The bearer token text of a request (for binding a URL to the API token that minted it). */
function bearerOf(req: Request): string | null {
  return /^Bearer\s+(\S+)$/i.exec(req.headers.get("authorization") ?? "")?.[1] ?? null;
}

/** The routes under /api. */
export function rtspUrlRoutes(d: RtspUrlDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.post("/handles/:handle/rtsp-url", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    if (!p.userId) throw new AppError("forbidden", "this needs a signed-in user or a user's token");
    const body = await jsonBody(c, rtspUrlBody);
    const { handle, device } = await authorizeHandle(d, p, c.req.param("handle"));
    const bearer = p.kind === "api_token" ? bearerOf(c.req.raw) : null;
    const credentialHash = p.kind === "api_token"
      ? p.credentialHash ?? (bearer ? await hashToken(bearer) : "")
      : p.sessionHash ?? "";
    if (!credentialHash || (p.kind !== "api_token" && p.kind !== "session")) {
      throw new AppError("forbidden", "this needs a signed-in user or a user's token");
    }
    const ttl = body.ttlSeconds ? body.ttlSeconds * 1000 : RTSP_URL_TTL_MS;
    const expiresAt = Math.floor((d.clock.now() + ttl) / 1000) * 1000;
    const token = await d.signer.sign({
      handle: handle.id,
      userId: p.userId,
      via: p.kind,
      credentialHash,
      expiresAt,
    });
    const path = (body.path ?? device.streamPaths[handle.port] ?? "").replace(/^\/+/, "");
    const sub = body.subPath?.replace(/^\/+/, "");
    const patch: DevicePatch = {};
    if (body.path !== undefined && (device.streamPaths[handle.port] ?? "") !== `/${path}`) {
      // The path asked for is remembered for the port: the next URL and the Live view use it.
      patch.streamPaths = { [handle.port]: path ? `/${path}` : "" };
    }
    if (sub !== undefined && (device.subStreamPaths[handle.port] ?? "") !== (sub && `/${sub}`)) {
      // The sub-stream given is remembered too: the grid and the thumbnails play it.
      patch.subStreamPaths = { [handle.port]: sub ? `/${sub}` : "" };
    }
    if (patch.streamPaths || patch.subStreamPaths) {
      await d.store.updateDevice(handle.tenantId, device.id, patch);
    }
    await d.store.appendAudit({
      tenantId: handle.tenantId,
      actor: p.actor,
      action: "rtsp_url.mint",
      target: handle.id,
      detail: {
        expiresAt,
        boundToToken: p.kind === "api_token",
        path: `/${path}`,
        ...(sub === undefined ? {} : { subPath: sub && `/${sub}` }),
      },
    });
    const base = `${d.rtspBase()}/${handle.id}.${token}/`;
    // The sub-stream as given now, else as remembered; none when it is the main stream itself.
    const subPath = sub ?? (device.subStreamPaths[handle.port] ?? "").replace(/^\/+/, "");
    return c.json({
      url: base + path,
      ...(subPath && subPath !== path ? { subUrl: base + subPath } : {}),
      expiresAt,
    }, 201);
  });
  return app;
}
