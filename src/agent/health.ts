/**
 * The agent's optional health endpoint for k8s probes and monitoring (`--health-listen`, off
 * by default — the agent otherwise never listens). Plain HTTP on the configured bind:
 * `GET /healthz/ready` answers 200 while the control stream is up and 503 with a JSON reason
 * otherwise; `GET /healthz/live` answers 200 while the process runs (the cloud's names; the older
 * `/readyz`, `/healthz` and `/livez` stay as aliases); `GET /metrics` is the Prometheus text.
 * Nothing secret is shown.
 * @module
 */
import type { ListenAddress } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";
import type { Supervisor } from "./supervisor.ts";
import { metrics, METRICS_CONTENT_TYPE } from "../shared/metrics.ts";

const controlUp = metrics.gauge(
  "connector_agent_control_up",
  "1 while the agent's control stream to the cloud is up",
);
const dataBlocked = metrics.gauge(
  "connector_agent_data_blocked",
  "1 while the agent's data connections to the cloud cannot be opened (its last dial failed for good)",
);
const agentStreams = metrics.gauge("connector_agent_tunnels_open", "Tunnels this agent carries");
const agentBytes = metrics.counter(
  "connector_agent_tunnel_bytes_total",
  "Bytes this agent carried today (UTC), by direction (up: toward the cloud)",
);

/** A running health endpoint. */
export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The body and status of /healthz for a supervisor's current state: ready while the control
 * stream is up and the data channel is not known to be blocked (an agent whose data connections
 * cannot open carries no tunnel).
 */
export function healthOf(
  sup: Pick<Supervisor, "state" | "lastReason" | "connectedSince"> & { dataBlocked?: string },
): {
  status: number;
  body: Record<string, unknown>;
} {
  if (sup.state === "connected" && sup.dataBlocked) {
    return {
      status: 503,
      body: {
        status: "unavailable",
        controlStream: "up",
        dataChannel: "blocked",
        reason: `data channel blocked: ${sup.dataBlocked}`,
        version: VERSION,
      },
    };
  }
  if (sup.state === "connected") {
    return {
      status: 200,
      body: {
        status: "ok",
        controlStream: "up",
        since: sup.connectedSince ? new Date(sup.connectedSince).toISOString() : null,
        version: VERSION,
      },
    };
  }
  return {
    status: 503,
    body: {
      status: "unavailable",
      controlStream: sup.state,
      reason: sup.lastReason || "control stream connecting",
      version: VERSION,
    },
  };
}

/** Starts the endpoint. */
export function startHealthServer(
  listen: ListenAddress,
  sup: Pick<Supervisor, "state" | "lastReason" | "connectedSince" | "stats" | "dataBlocked">,
): Promise<HealthServer> {
  return new Promise((resolve) => {
    const server = Deno.serve({
      hostname: listen.hostname,
      port: listen.port,
      onListen: ({ port }) => resolve({ port, close: () => server.shutdown() }),
    }, (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return Response.json({ error: "method_not_allowed" }, { status: 405 });
      }
      if (path === "/livez" || path === "/healthz/live") {
        return Response.json({ status: "ok", version: VERSION });
      }
      if (path === "/metrics") {
        controlUp.set({}, sup.state === "connected" ? 1 : 0);
        dataBlocked.set({}, sup.dataBlocked ? 1 : 0);
        agentStreams.set({}, sup.stats.activeStreams);
        agentBytes.set({ direction: "up" }, sup.stats.bytesUp);
        agentBytes.set({ direction: "down" }, sup.stats.bytesDown);
        return new Response(metrics.render(), {
          headers: { "content-type": METRICS_CONTENT_TYPE },
        });
      }
      if (path === "/healthz" || path === "/readyz" || path === "/healthz/ready") {
        const h = healthOf(sup);
        if (path !== "/healthz" && h.status === 200) {
          h.body.activeStreams = sup.stats.activeStreams;
        }
        return Response.json(h.body, { status: h.status });
      }
      return Response.json({ error: "not_found" }, { status: 404 });
    });
  });
}
