/**
 * `GET /api/terminal/{handle}` (WebSocket): the browser terminal's endpoint. Admitted by the
 * rules of the other operator paths — a credential that may open tunnels, the handle in the
 * caller's tenant (and CLI session's sites) — and, for a browser's session cookie, an `Origin`
 * that is the cloud's own: a cookie rides along on any page's WebSocket, so a cookie without
 * Origin or from another origin is refused. Refusals come before the upgrade as HTTP statuses
 * with `{error, message}`; after it, the session runs (terminal/session.ts).
 * @module
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
// @ts-types="@types/ws"
import type { WebSocketServer } from "ws";
import { AppError } from "../../../shared/errors.ts";
import { authorizeTunnel } from "../tunnel_ws.ts";
import { runTerminal, type TerminalDeps } from "./session.ts";

/** The endpoint's path pattern. */
export const TERMINAL_PATH = /^\/api\/terminal\/([^/]+)$/;

/** Admits and upgrades, or throws the refusal (AppError) before any upgrade. */
export async function serveTerminalUpgrade(
  d: TerminalDeps,
  wss: WebSocketServer,
  req: http.IncomingMessage,
  request: Request,
  socket: Duplex,
  head: Buffer,
  handle: string,
): Promise<void> {
  const remote = req.socket.remoteAddress ?? "";
  const { principal, target } = await authorizeTunnel(d, request, handle, remote);
  if (principal.kind === "session" && !request.headers.get("origin")) {
    throw new AppError("forbidden", "a browser terminal needs the Origin header");
  }
  if (principal.kind === "license" || principal.kind === "admin_key") {
    throw new AppError("forbidden", "this credential cannot open a terminal");
  }
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => {
    runTerminal(d, ws, principal, target).catch((e) =>
      d.log.error({ err: (e as Error).message }, "terminal session failed")
    );
  });
}
