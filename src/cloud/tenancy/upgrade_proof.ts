/**
 * Why a browser's WebSocket to the cloud must prove which page opened it. The session cookie rides
 * along on a WebSocket from any page of the cloud's origin, and in path-prefix mode a device page
 * under `/c/` is one: a handshake carries no Referer to tell them apart (isolation.ts), and its
 * Origin is the cloud's own. The cloud's pages offer their antiforgery token as the subprotocol
 * `csrf.<token>` beside the one they speak (e.g. `["nc-live", "csrf.…"]`); a device page cannot
 * learn it, since every cloud page refuses it the session. The live view, the WebSocket tunnel
 * and the terminal ask for it of a session; other credentials are not a browser's ambient ones.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import { constantTimeEqual } from "../../shared/crypto/token.ts";
import {
  csrfTokenFor,
  type Principal,
  readCookie,
  type RequestFacts,
  SESSION_COOKIE,
} from "./auth.ts";

/** The token a handshake offers as its `csrf.<token>` subprotocol, or "" when none. */
export function offeredProof(req: RequestFacts): string {
  return (req.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim())
    .find((p) => p.startsWith("csrf."))?.slice(5) ?? "";
}

/**
 * Throws `antiforgery` when a session's upgrade does not offer its page's token (`proof`: what
 * the request offers, by default its `csrf.<token>` subprotocol); any other principal passes.
 */
export async function requireUpgradeProof(
  principal: Principal,
  req: RequestFacts,
  proof = offeredProof(req),
): Promise<void> {
  if (principal.kind !== "session") return;
  const cookie = readCookie(req, SESSION_COOKIE) ?? "";
  if (!constantTimeEqual(proof, await csrfTokenFor(cookie))) throw new AppError("antiforgery");
}
