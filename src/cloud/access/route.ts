/**
 * From a handle to a connected byte stream, for every access path: resolve the handle, check it
 * against the caller's tenant (403 "handle does not belong to your tenant" otherwise), pick the
 * agent (sticky with failover) and ask it to open the device port. Policy is decided here, once;
 * what comes back is a socket for the byte pump.
 * @module
 */
import { noAgentError } from "./no_agent.ts";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { Device, Handle, Store } from "../store/store.ts";
import type { AuthContext, Principal } from "../tenancy/auth.ts";
import { isHandleShape, isLive } from "../tenancy/handle.ts";
import { chooseAgent } from "../tenancy/agent_choice.ts";
import type { Registry } from "../control/registry.ts";
import type { OpenedTunnel, TunnelBroker } from "../control/tunnels.ts";
import type { LiveAccess } from "./live.ts";

/** What the router needs. */
export interface RouteDeps {
  store: Store;
  /** What authentication needs besides the request (admin key hash, trusted proxies). */
  authContext?: () => Omit<AuthContext, "remote" | "now">;
  registry: Registry;
  broker: TunnelBroker;
  clock: Clock;
  log: Logger;
  /** Close WebSocket tunnels idle this long (no bytes either way); null/absent: never. */
  tunnelIdleTimeoutMs?: number | null;
  /** Long-lived connections, closed when their credential is revoked. */
  live?: LiveAccess;
}

/** A resolved and authorized target. */
export interface Authorized {
  handle: Handle;
  device: Device;
}

/** Resolves a handle and checks it against the principal's tenant; audits denials. */
export async function authorizeHandle(
  d: RouteDeps,
  principal: Principal,
  handleId: string,
): Promise<Authorized> {
  const handle = isHandleShape(handleId) ? await d.store.getHandle(handleId) : null;
  if (!handle || !isLive(handle, d.clock.now())) {
    throw new AppError("unknown_handle");
  }
  const deny = async (reason: string, err: AppError): Promise<never> => {
    await d.store.appendAudit({
      tenantId: principal.tenantId,
      actor: principal.actor,
      action: "tunnel.deny",
      target: handleId,
      detail: { reason },
    });
    throw err;
  };
  if (handle.tenantId !== principal.tenantId && principal.kind !== "admin_key") {
    await deny("handle_other_tenant", new AppError("handle_other_tenant"));
  }
  if (principal.siteIds && !principal.siteIds.includes(handle.siteId)) {
    await deny(
      "site_not_in_session_scope",
      new AppError("forbidden", "this CLI session does not include the device's site"),
    );
  }
  const device = await d.store.getDevice(handle.tenantId, handle.deviceId);
  if (!device || !device.ports.includes(handle.port)) throw new AppError("unknown_handle");
  return { handle, device };
}

/** Picks the agent for an authorized handle and opens the tunnel through it. */
export async function openTunnel(d: RouteDeps, a: Authorized): Promise<OpenedTunnel> {
  const online = d.registry.bySite(a.handle.siteId);
  const agentId = chooseAgent(a.handle.agentId, online);
  if (!agentId) throw await noAgentError(d.store, a.handle.tenantId, a.handle.siteId);
  const session = d.registry.get(agentId);
  if (session) session.activeStreams++;
  try {
    const tunnel = await d.broker.open(agentId, a.device.host, a.handle.port);
    // Pin to the first agent that actually served the handle (not one that failed to).
    if (a.handle.agentId === null) await d.store.pinHandle(a.handle.id, agentId);
    return tunnel;
  } catch (e) {
    if (session) session.activeStreams = Math.max(0, session.activeStreams - 1);
    throw e;
  }
}
