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
import type { Device, Handle, Presence, Store } from "../store/store.ts";
import type { AuthContext, Principal } from "../tenancy/auth.ts";
import { isHandleShape, isLive } from "../tenancy/handle.ts";
import { type Candidate, chooseAgent } from "../tenancy/agent_choice.ts";
import type { Registry } from "../control/registry.ts";
import type { OpenedTunnel, TunnelBroker } from "../control/tunnels.ts";
import type { BridgeClient } from "../interrelay/bridge_tunnel.ts";
import type { LiveAccess } from "./live.ts";
import { MeteredConn } from "./metered.ts";
import { tunnelOpens } from "../cloud_metrics.ts";

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
  /** This node's name: presence naming it is this node's own registry. */
  node?: string;
  /** Reaches agents held by sibling nodes (multi-node); absent: local agents only. */
  bridge?: BridgeClient;
}

/** The access path a tunnel serves (the `path` label of connector_tunnel_opens_total). */
export type AccessPath = "ws" | "cli" | "proxy" | "rtsp" | "terminal" | "live";

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
  const handle = await liveHandle(d, handleId);
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
  return { handle, device: await handleDevice(d, handle) };
}

/**
 * Resolves a handle without a caller to check: for a sibling node that decided policy before it
 * asked this node (the live view's shared camera session). Throws 404 `unknown handle`.
 */
export async function resolveHandle(d: RouteDeps, handleId: string): Promise<Authorized> {
  const handle = await liveHandle(d, handleId);
  return { handle, device: await handleDevice(d, handle) };
}

async function liveHandle(d: RouteDeps, handleId: string): Promise<Handle> {
  const handle = isHandleShape(handleId) ? await d.store.getHandle(handleId) : null;
  if (!handle || !isLive(handle, d.clock.now())) throw new AppError("unknown_handle");
  return handle;
}

async function handleDevice(d: RouteDeps, handle: Handle): Promise<Device> {
  const device = await d.store.getDevice(handle.tenantId, handle.deviceId);
  if (!device || !device.ports.includes(handle.port)) throw new AppError("unknown_handle");
  return device;
}

/** The agent chosen for a handle, and the sibling node's presence when another node holds it. */
export interface ChosenAgent {
  agentId: string;
  owner?: Presence;
}

/**
 * Picks the agent for an authorized handle: sticky with failover, over every node's agents.
 * Throws 503 `agent reconnecting` (or "no agent has connected … yet") when the site has none
 * online. Opens nothing: the live view asks it to say why a player cannot start.
 */
export async function pickAgent(d: RouteDeps, a: Authorized): Promise<ChosenAgent> {
  const pinned = a.handle.agentId;
  if (pinned && d.registry.get(pinned)) return { agentId: pinned }; // reads no presence
  const online = await onlineAgents(d, a.handle.siteId);
  const agentId = chooseAgent(pinned, online);
  if (!agentId) throw await noAgentError(d.store, a.handle.tenantId, a.handle.siteId);
  return { agentId, owner: online.find((c) => c.agentId === agentId)?.presence };
}

/**
 * Picks the agent for an authorized handle (pickAgent; or takes `chosen`, already picked) and
 * opens the tunnel: through the local broker when this node holds the agent's control stream,
 * otherwise over a BridgeTunnel to the node presence names. Every access path (WebSocket and CLI
 * tunnels, `/c/{h}/`, RTSP) comes through here.
 */
export async function openTunnel(
  d: RouteDeps,
  a: Authorized,
  path: AccessPath,
  chosen?: ChosenAgent,
): Promise<OpenedTunnel> {
  const { agentId, owner } = chosen ?? await pickAgent(d, a);
  const tunnel = owner
    ? await d.bridge!.openTunnel(owner, agentId, a.device.host, a.handle.port)
    : await openLocal(d, agentId, a.device.host, a.handle.port);
  tunnelOpens.inc({ path });
  // Pin to the first agent that actually served the handle (not one that failed to).
  if (a.handle.agentId === null) await d.store.pinHandle(a.handle.id, agentId);
  return { ...tunnel, socket: new MeteredConn(tunnel.socket) };
}

/** Opens a tunnel through an agent whose control stream this node holds. */
export async function openLocal(
  d: Pick<RouteDeps, "registry" | "broker">,
  agentId: string,
  host: string,
  port: number,
): Promise<OpenedTunnel> {
  const session = d.registry.get(agentId);
  if (!session) throw new AppError("agent_offline");
  session.activeStreams++;
  try {
    return await d.broker.open(agentId, host, port);
  } catch (e) {
    session.activeStreams = Math.max(0, session.activeStreams - 1);
    throw e;
  }
}

/**
 * The site's online agents on every node: this node's registry (exact load), plus unexpired
 * presence of agents on sibling nodes that advertise an internal endpoint (when bridging is on).
 * Presence naming this node without a local session is stale and skipped.
 */
async function onlineAgents(
  d: RouteDeps,
  siteId: string,
): Promise<Array<Candidate & { presence?: Presence }>> {
  const local = d.registry.bySite(siteId).map((s) => ({
    agentId: s.agentId,
    activeStreams: s.activeStreams,
  }));
  if (!d.bridge) return local;
  const seen = new Set(local.map((c) => c.agentId));
  const remote = (await d.store.listPresence(siteId))
    .filter((p) => !seen.has(p.agentId) && p.node !== d.node && p.endpoint !== "")
    .map((p) => ({ agentId: p.agentId, activeStreams: p.activeStreams, presence: p }));
  return [...local, ...remote];
}
