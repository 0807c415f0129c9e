/**
 * The cloud's Prometheus metrics (guide §5.3, issue 12): declared once on the shared registry
 * (`src/shared/metrics.ts`) so the modules that move tunnels and bridges update them and every
 * node's `/metrics` renders them.
 * @module
 */
import { metrics } from "../shared/metrics.ts";

/** Agents holding a control stream on this node (set at scrape time by main). */
export const agentsConnected = metrics.gauge(
  "connector_agents_connected",
  "Agents whose control stream is held by this node",
);
/** Tunnels open through this node's access paths (WebSocket, CLI raw, proxy, RTSP). */
export const tunnelsOpen = metrics.gauge(
  "connector_tunnels_open",
  "Tunnels open on this node (entered here, local or bridged)",
);
/** Tunnels opened, by access path. */
export const tunnelOpens = metrics.counter(
  "connector_tunnel_opens_total",
  "Tunnels opened on this node, by access path (ws, cli, proxy, rtsp, terminal)",
);
/** Tunnel bytes, by direction (up: operator to device, down: device to operator). */
export const tunnelBytes = metrics.counter(
  "connector_tunnel_bytes_total",
  "Bytes carried by tunnels entered on this node, by direction (up: to the device)",
);
/**
 * Stream windows that grew on this node's agent data connections: doubled for agents a long
 * round trip away, or SOLO_WINDOW for a tunnel that is all its agent has open (README "Kept: windows
 * that grow over a long link", "Kept: a tunnel alone gets 2 MiB…").
 */
export const windowsGrown = metrics.counter(
  "connector_data_windows_grown_total",
  "Times a tunnel's receive window grew on an agent data connection (doubled for agents a long round trip away, or 2 MiB for a tunnel that is all its agent has open; downloads)",
);
/** Bridges open on this node (either end). */
export const bridgesOpen = metrics.gauge(
  "connector_interrelay_bridges_open",
  "BridgeTunnels open on this node, by side (out: opened here toward the owner; in: accepted)",
);
/** Bridges this node opened toward an owning node. */
export const bridgeOpens = metrics.counter(
  "connector_interrelay_bridge_opens_total",
  "BridgeTunnels opened, by side (out: this node entered the request; in: this node owns the agent)",
);
/** Bytes crossing bridges (both directions, either end). */
export const bridgeBytes = metrics.counter(
  "connector_interrelay_bridge_bytes_total",
  "Tunnel bytes carried over BridgeTunnels by this node, by side",
);
/** Bridges that could not be opened (owner unreachable, refused, timed out). */
export const bridgeFailures = metrics.counter(
  "connector_interrelay_bridge_failures_total",
  "BridgeTunnels this node could not open to the owning node",
);
/** Seconds the last store health probe took (-1 when it failed). */
export const storeHealth = metrics.gauge(
  "connector_mongo_health_seconds",
  "Seconds the last store round trip took (-1 when the store did not answer); named for MongoDB, measured on whichever store runs",
);
/** Seconds until the soonest non-revoked agent certificate expires (cert_expiry.ts). */
export const agentCertExpiry = metrics.gauge(
  "connector_agent_cert_expiry_seconds",
  "Seconds until the soonest agent certificate (of non-revoked agents) expires",
);
/** Seconds until each CA in use expires, by `ca` (agent, internal). */
export const caExpiry = metrics.gauge(
  "connector_ca_expiry_seconds",
  "Seconds until each CA certificate in use expires",
);
/** Cloud nodes sharing the store that announced themselves within 45 s (nodes.ts). */
export const nodesRunning = metrics.gauge(
  "connector_nodes_running",
  "Cloud nodes sharing this node's store that announced themselves within 45 s, this one included",
);
/** Shared settings in which a running sibling differs from this node (nodes.ts). */
export const nodeSettingDifferences = metrics.gauge(
  "connector_node_setting_differences",
  "Shared settings (audit retention, offline grace, …) in which a running sibling node differs from this one: alert on > 0",
);
