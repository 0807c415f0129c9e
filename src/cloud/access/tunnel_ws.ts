/**
 * The raw WebSocket tunnel `GET /api/tunnel/{handle}`: authenticate, authorize the handle in the
 * caller's tenant, open the tunnel through an agent — all before the upgrade, so a refusal is a
 * plain HTTP status with `{error, message}` — then upgrade and pump bytes. Binary messages carry
 * the bytes; an empty binary message is a half-close; the close reason says why a tunnel ended.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import {
  type PumpOwner,
  type PumpSocket,
  startWebSocketPump,
  type WsPumpOptions,
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
import { requireUpgradeProof } from "../tenancy/upgrade_proof.ts";
import type { LiveConn, LiveInfo } from "./live.ts";

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
  // A browser's session proves its page before anything is dialed (tenancy/upgrade_proof.ts).
  await requireUpgradeProof(principal, req);
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
  new ServedTunnel(d, p, ws).start();
}

function agentDisconnected(): string {
  return "agent disconnected";
}

/** The pump's options of every tunnel of a node, by its idle timeout (one object, not one each). */
const pumpOptions = new Map<number | null, Omit<WsPumpOptions, "onStart">>();

function pumpOptionsFor(idleMs: number | null): Omit<WsPumpOptions, "onStart"> {
  let o = pumpOptions.get(idleMs);
  if (!o) {
    o = {
      idleMs,
      describeError: agentDisconnected,
      // The end of the tunnel's stream is the device's: a data connection or a bridge that is
      // cut fails the stream with an error instead (1011, "agent disconnected"), and only the
      // agent's FIN (or the bridge's END) after the device's own end reads as one.
      endReason: "device closed the connection",
    };
    pumpOptions.set(idleMs, o);
  }
  return o;
}

/**
 * One tunnel after its upgrade: its own entry in the live registry (revocation, the
 * live-sessions view, its byte count) and the few fields its audit events name, in one object —
 * rather than closures over the request, which an idle tunnel would keep by the dozen.
 */
class ServedTunnel implements LiveConn, LiveInfo, PumpOwner {
  readonly principal: Principal;
  readonly kind: string;
  readonly handleId: string;
  readonly startedAt: number;
  #d: RouteDeps;
  #ws: PumpSocket;
  #tunnel: OpenedTunnel;
  #tenantId: string;
  /** What every audit event of the tunnel names. */
  #base: Record<string, unknown>;
  #counts: Readonly<WsPumpResult> | null = null;

  constructor(d: RouteDeps, p: PreparedTunnel, ws: PumpSocket) {
    const { principal, target, tunnel } = p;
    this.principal = principal;
    this.kind = principal.kind === "cli_session" ? "CLI tunnel" : "WebSocket tunnel";
    this.handleId = target.handle.id;
    this.startedAt = d.clock.now();
    this.#d = d;
    this.#ws = ws;
    this.#tunnel = tunnel;
    this.#tenantId = target.handle.tenantId;
    this.#base = {
      device: target.device.id,
      host: target.device.host,
      port: target.handle.port,
      agent: tunnel.agentId,
      tunnel: tunnel.tunnelId,
      via: principal.kind,
      ...(principal.auditUser ? { user: principal.auditUser } : {}),
    };
    this.#audit("tunnel.open", { path: "websocket", remote: p.client });
  }

  /** The live-sessions view's description: the tunnel itself. */
  get info(): LiveInfo {
    return this;
  }

  /** Bytes carried so far, both ways. */
  bytes(): number {
    const c = this.#counts;
    return c ? c.wsToSocket + c.socketToWs : 0;
  }

  /** Revoked or terminated: the operator reads `reason` in the close frame. */
  close(reason: string): void {
    if (this.#ws.readyState === OPEN) this.#ws.close(1008, reason);
    try {
      this.#tunnel.socket.close();
    } catch { /* already closed */ }
  }

  start(): void {
    const d = this.#d;
    d.live?.register(this);
    const opts = pumpOptionsFor(d.tunnelIdleTimeoutMs ?? null);
    this.#counts = startWebSocketPump(this.#ws, this.#tunnel.socket, opts, this);
  }

  /** The pump is done: the tunnel ends, audited with its counts and close code. */
  pumpEnded(r: WsPumpResult): void {
    const d = this.#d;
    const tunnel = this.#tunnel;
    d.live?.unregister(this);
    tunnel.done();
    const s = d.registry.get(tunnel.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
    this.#audit("tunnel.close", {
      bytesUp: r.wsToSocket,
      bytesDown: r.socketToWs,
      durationMs: d.clock.now() - this.startedAt,
      closeCode: r.closeCode,
    });
  }

  #audit(action: string, detail: Record<string, unknown>): void {
    const d = this.#d;
    d.store.appendAudit({
      tenantId: this.#tenantId,
      actor: this.principal.actor,
      action,
      target: this.handleId,
      detail: { ...this.#base, ...detail },
    }).catch((e) => logStoreFailure(d.log, e, "audit write failed"));
  }
}
