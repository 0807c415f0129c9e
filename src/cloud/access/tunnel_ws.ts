/**
 * The raw WebSocket tunnel `GET /api/tunnel/{handle}`: authenticate, authorize the handle in the
 * caller's tenant, open the tunnel through an agent — all before the upgrade, so a refusal is a
 * plain HTTP status with `{error, message}` — then upgrade and pump bytes. Binary messages carry
 * the bytes; an empty binary message is a half-close; the close reason says why a tunnel ended.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import {
  pipeWebSocket,
  type PumpSocket,
  type WsPumpResult,
} from "../../shared/transport/websocket.ts";
import {
  authenticate,
  clientAddress,
  type Principal,
  type RequestFacts,
  TUNNEL_KINDS,
} from "../tenancy/auth.ts";
import type { OpenedTunnel } from "../control/tunnels.ts";
import { type Authorized, authorizeHandle, openTunnel, type RouteDeps } from "./route.ts";
import { resolveLoopback } from "./plan.ts";
import { auditAnonymousRefusal } from "../tenancy/anonymous_audit.ts";
import { requireSameOriginUpgrade } from "./ws_origin.ts";
import { logStoreFailure } from "../store/outage.ts";
import { slideOnConnect } from "../tenancy/session_slide.ts";

const OPEN = 1;

/** The path pattern of the tunnel endpoint. */
export const TUNNEL_PATH = /^\/api\/tunnel\/([^/]+)$/;
/** The path pattern of the CLI's raw tunnel endpoint. */
export const RAW_TUNNEL_PATH =
  /^\/api\/cli\/raw-tunnel\/(127\.\d{1,3}\.\d{1,3}\.\d{1,3})\/(\d{1,5})$/;

/** An authorized request whose tunnel is open, waiting for the upgrade. */
export interface PreparedTunnel {
  principal: Principal;
  target: Authorized;
  tunnel: OpenedTunnel;
  /** The client's address, as audited (see {@linkcode authorizeTunnel}). */
  client: string;
}

/** What an operator asks for: a handle, or (for the CLI) a device's loopback IP and port. */
export type TunnelTarget = { handle: string } | { ip: string; port: number };

/**
 * Whether to audit one more refusal from `remote` before any identity was established (sampled
 * per address: see tenancy/anonymous_audit.ts).
 */
function auditAnonymous(d: RouteDeps, remote: string): boolean {
  if (auditAnonymousRefusal(d.store, remote, d.clock.now())) return true;
  d.log.debug({ remote }, "anonymous tunnel refusal not audited (over the per-address rate)");
  return false;
}

/**
 * Authenticates and authorizes `remote` (the socket's address); throws AppError (401/403/404).
 * Also returns the client's address as audits record it: the socket's, or the X-Forwarded-For of
 * a `--trusted-proxies` proxy (behind a load balancer the socket's is the balancer's).
 */
export async function authorizeTunnel(
  d: RouteDeps,
  req: RequestFacts,
  target: TunnelTarget | string,
  remote: string,
): Promise<{ principal: Principal; target: Authorized; client: string }> {
  const t: TunnelTarget = typeof target === "string" ? { handle: target } : target;
  const label = "handle" in t ? t.handle.slice(0, 64) : `${t.ip}:${t.port}`;
  let client = remote;
  try {
    client = clientAddress(req, { ...d.authContext?.(), remote });
  } catch { /* a malformed X-Forwarded-For: authenticate refuses it below */ }
  const deny = async (e: AppError) => {
    if (!auditAnonymous(d, client)) return e;
    await d.store.appendAudit({
      tenantId: null,
      actor: `ip:${client}`,
      action: "tunnel.deny",
      target: label,
      detail: { reason: e.code, message: e.message },
    });
    return e;
  };
  let principal: Principal | null;
  try {
    principal = await authenticate(d.store, req, {
      ...d.authContext?.(),
      remote,
      now: d.clock.now(),
    });
  } catch (e) {
    throw e instanceof AppError ? await deny(e) : e;
  }
  if (!principal) throw await deny(new AppError("auth_required"));
  if (!TUNNEL_KINDS.includes(principal.kind)) {
    throw new AppError("forbidden", "this credential cannot open tunnels");
  }
  // A browser's cookie rides along on any page's WebSocket: accept it only from our own origin.
  if (principal.kind === "session") {
    requireSameOriginUpgrade(req.headers.get("origin"), req.headers.get("host") ?? undefined);
  }
  if ("handle" in t) {
    return { principal, target: await authorizeHandle(d, principal, t.handle), client };
  }
  if (principal.kind !== "cli_session") {
    throw new AppError("forbidden", "the raw CLI tunnel needs a CLI session (ops_…)");
  }
  const handle = await resolveLoopback(d, principal, t.ip, t.port);
  return { principal, target: await authorizeHandle(d, principal, handle), client };
}

/** Everything before the upgrade: auth, tenancy, agent choice, the agent's dial. */
export async function prepareTunnel(
  d: RouteDeps,
  req: RequestFacts,
  target: TunnelTarget | string,
  remote: string,
): Promise<PreparedTunnel> {
  const { principal, target: authorized, client } = await authorizeTunnel(d, req, target, remote);
  const tunnel = await openTunnel(
    d,
    authorized,
    typeof target === "string" || "handle" in target ? "ws" : "cli",
  );
  // A successful connect slides a CLI session (30 days, never past its hard cap).
  if (principal.cliSessionHash) {
    await slideOnConnect(d, principal.cliSessionHash);
  }
  return { principal, target: authorized, tunnel, client };
}

/**
 * After the upgrade: pump bytes, audit open and close. What an idle tunnel keeps is only what
 * its close needs (the audit's fields, the principal for revocation), not the request's
 * records: there may be tens of thousands of idle tunnels on a node.
 */
export function serveTunnel(d: RouteDeps, p: PreparedTunnel, ws: PumpSocket): void {
  const started = d.clock.now();
  const { principal, tunnel } = p;
  const audit = tunnelAudit(d, p);
  audit("tunnel.open", { path: "websocket", remote: p.client });
  let counts: Readonly<WsPumpResult> | null = null;
  const unlive = d.live?.add(principal, (reason) => {
    if (ws.readyState === OPEN) ws.close(1008, reason);
    try {
      tunnel.socket.close();
    } catch { /* already closed */ }
  }, {
    kind: principal.kind === "cli_session" ? "CLI tunnel" : "WebSocket tunnel",
    handleId: p.target.handle.id,
    startedAt: started,
    bytes: () => (counts ? counts.wsToSocket + counts.socketToWs : 0),
  });
  pipeWebSocket(ws, tunnel.socket, {
    onStart: (live) => (counts = live),
    idleMs: d.tunnelIdleTimeoutMs,
    describeError: agentDisconnected,
    // The end of the tunnel's stream is the device's: a data connection or a bridge that is cut
    // fails the stream with an error instead (1011, "agent disconnected"), and only the agent's
    // FIN (or the bridge's END) after the device's own end reads as one.
    endReason: "device closed the connection",
  }).then((r) => {
    unlive?.();
    tunnel.done();
    const s = d.registry.get(tunnel.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
    audit("tunnel.close", {
      bytesUp: r.wsToSocket,
      bytesDown: r.socketToWs,
      durationMs: d.clock.now() - started,
      closeCode: r.closeCode,
    });
  });
}

function agentDisconnected(): string {
  return "agent disconnected";
}

/** Writes a tunnel's audit events; keeps the few fields they name, not the records. */
function tunnelAudit(
  d: RouteDeps,
  p: PreparedTunnel,
): (action: string, detail: Record<string, unknown>) => void {
  const { principal, target, tunnel } = p;
  const tenantId = target.handle.tenantId;
  const actor = principal.actor;
  const handleId = target.handle.id;
  const base = {
    device: target.device.id,
    host: target.device.host,
    port: target.handle.port,
    agent: tunnel.agentId,
    tunnel: tunnel.tunnelId,
    via: principal.kind,
    ...(principal.auditUser ? { user: principal.auditUser } : {}),
  };
  return (action, detail) => {
    d.store.appendAudit({
      tenantId,
      actor,
      action,
      target: handleId,
      detail: { ...base, ...detail },
    }).catch((e) => logStoreFailure(d.log, e, "audit write failed"));
  };
}
