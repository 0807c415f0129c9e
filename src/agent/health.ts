/**
 * The agent's optional health endpoint for k8s probes and monitoring (`--health-listen`, off
 * by default — the agent otherwise never listens). Plain HTTP on the configured bind:
 * `GET /healthz` and `GET /readyz` answer 200 while the control stream is up and 503 with a JSON
 * reason otherwise; `GET /livez` answers 200 while the process runs. Nothing secret is shown.
 * @module
 */
import type { ListenAddress } from "../shared/cli.ts";
import { VERSION } from "../shared/version.ts";
import type { Supervisor } from "./supervisor.ts";

/** A running health endpoint. */
export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** The body and status of /healthz for a supervisor's current state. */
export function healthOf(sup: Pick<Supervisor, "state" | "lastReason" | "connectedSince">): {
  status: number;
  body: Record<string, unknown>;
} {
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
  sup: Pick<Supervisor, "state" | "lastReason" | "connectedSince" | "stats">,
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
      if (path === "/livez") return Response.json({ status: "ok", version: VERSION });
      if (path === "/healthz" || path === "/readyz") {
        const h = healthOf(sup);
        if (path === "/readyz" && h.status === 200) {
          h.body.activeStreams = sup.stats.activeStreams;
        }
        return Response.json(h.body, { status: h.status });
      }
      return Response.json({ error: "not_found" }, { status: 404 });
    });
  });
}
