/**
 * Who is calling the RTSP gateway. Players cannot send bearer headers, so two forms are
 * accepted: a signed RTSP URL (signed_url.ts; the user and the API token or session that minted it
 * must still hold at each connection and while the stream runs), or RTSP Basic auth with an `nt_` or
 * `ops_` token as the password (any user name), which goes through the same `authenticate` as
 * every other path. Tenant and site scope are then checked by `authorizeHandle`, exactly as on
 * the WebSocket tunnel.
 * @module
 */
import { AppError } from "../../../shared/errors.ts";
import { isTokenShape } from "../../../shared/crypto/token.ts";
import { authenticate, type Principal, TUNNEL_KINDS } from "../../tenancy/auth.ts";
import type { RouteDeps } from "../route.ts";
import type { RtspUrlSigner } from "./signed_url.ts";
import { stillValid } from "../live.ts";

/** The token in an RTSP `Authorization: Basic` header when its password is a cloud token. */
export function gatewayToken(authorization: string | null): string | null {
  const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization ?? "");
  if (!m) return null;
  let text: string;
  try {
    text = new TextDecoder().decode(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0)));
  } catch {
    return null;
  }
  const password = text.slice(text.indexOf(":") + 1);
  return isTokenShape(password, "nt") || isTokenShape(password, "ops") ? password : null;
}

const expired = () =>
  new AppError("auth_required", "signed RTSP URL is not valid or has expired; mint a new one");

/**
 * The principal behind a signed URL token for `handle`: the user, carrying the minting token's or
 * session's hash, so live revalidation (`live.ts` `stillValid`) re-checks exactly that
 * credential; refused at once when it no longer holds.
 */
export async function principalFromSignedUrl(
  d: RouteDeps,
  signer: RtspUrlSigner,
  handle: string,
  token: string,
): Promise<Principal> {
  const now = d.clock.now();
  const claims = await signer.verify(handle, token, now);
  if (!claims) throw expired();
  const user = await d.store.getUser(claims.userId);
  if (!user || user.disabledAt !== null) throw expired();
  const h = await d.store.getHandle(handle);
  const tenantId = user.role === "superadmin" && h ? h.tenantId : user.tenantId;
  const p: Principal = {
    kind: claims.via,
    tenantId,
    userId: user.id,
    role: user.role,
    actor: `user:${user.id}`,
    ...(claims.via === "api_token"
      ? { credentialHash: claims.credentialHash }
      : { sessionHash: claims.credentialHash }),
  };
  if (!await stillValid(d.store, p, now)) throw expired();
  return p;
}

/** The principal behind a Basic header whose password is an `nt_`/`ops_` token; null if none. */
export async function principalFromBasic(
  d: RouteDeps,
  authorization: string | null,
  remote: string,
): Promise<Principal | null> {
  const token = gatewayToken(authorization);
  if (!token) return null;
  const req = new Request("http://rtsp.invalid/", {
    headers: { authorization: `Bearer ${token}` },
  });
  const p = await authenticate(d.store, req, {
    ...d.authContext?.(),
    remote,
    now: d.clock.now(),
  });
  if (!p) throw new AppError("auth_required");
  if (!TUNNEL_KINDS.includes(p.kind)) {
    throw new AppError("forbidden", "this credential cannot open tunnels");
  }
  return p;
}
