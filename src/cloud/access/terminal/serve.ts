/**
 * `GET /api/terminal/{handle}` (WebSocket): the browser terminal's endpoint. Admitted by the
 * rules of the other operator paths — a credential that may open tunnels, the handle in the
 * caller's tenant (and CLI session's sites) — and, for a browser's session cookie, an `Origin`
 * that is the cloud's own plus the page's antiforgery token as the subprotocol `csrf.<token>`
 * (tenancy/upgrade_proof.ts). Refusals come before the upgrade as HTTP statuses with
 * `{error, message}`; after it, the session runs (terminal/session.ts). `nanodems-tunnel ssh`
 * uses the same endpoint with its token, or `/api/cli/terminal/{127.0.0.X}/{port}` with a CLI
 * session.
 * @module
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
// @ts-types="@types/ws"
import type { WebSocketServer } from "ws";
import { AppError } from "../../../shared/errors.ts";
import { requireRole } from "../../tenancy/roles.ts";
import { authorizeTunnel, type TunnelTarget } from "../tunnel_ws.ts";
import { requireUpgradeProof } from "../../tenancy/upgrade_proof.ts";
import { runTerminal, type TerminalDeps } from "./session.ts";

/** The endpoint's path pattern. */
export const TERMINAL_PATH = /^\/api\/terminal\/([^/]+)$/;
/** The CLI's form: a device of its CLI session by loopback address and port. */
export const CLI_TERMINAL_PATH =
  /^\/api\/cli\/terminal\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,5})$/;

/** Admits and upgrades, or throws the refusal (AppError) before any upgrade. */
export async function serveTerminalUpgrade(
  d: TerminalDeps,
  wss: WebSocketServer,
  req: http.IncomingMessage,
  request: Request,
  socket: Duplex,
  head: Buffer,
  to: TunnelTarget,
): Promise<void> {
  const remote = req.socket.remoteAddress ?? "";
  const { principal, target } = await authorizeTunnel(d, request, to, remote);
  if (principal.kind === "session") {
    if (!request.headers.get("origin")) {
      throw new AppError("forbidden", "a browser terminal needs the Origin header");
    }
    await requireUpgradeProof(principal, request);
  }
  if (principal.kind === "license" || principal.kind === "admin_key") {
    throw new AppError("forbidden", "this credential cannot open a terminal");
  }
  requireRole(principal.role, "operator");
  if (socket.destroyed) return;
  wss.handleUpgrade(req, socket, head, (ws) => {
    runTerminal(d, ws, principal, target).catch((e) =>
      d.log.error({ err: (e as Error).message }, "terminal session failed")
    );
  });
}
