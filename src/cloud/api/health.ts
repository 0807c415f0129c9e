/**
 * The cloud's probes and scrape, answered the same on the HTTP port and on the separate
 * `--metrics` listener: `/healthz/live` (the process runs), `/healthz/ready` (the store answers
 * within a second; 503 store_unavailable otherwise) and the Prometheus text of `/metrics`. The
 * store probe also sets `connector_mongo_health_seconds`.
 * @module
 */
import * as http from "node:http";
import { VERSION } from "../../shared/version.ts";
import { metrics, METRICS_CONTENT_TYPE } from "../../shared/metrics.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { Store } from "../store/store.ts";
import { storeHealth } from "../cloud_metrics.ts";
import { probeStore } from "../store/outage.ts";
import { toErrorResponse } from "../../shared/errors.ts";

/** A load balancer's probe must stay fast while the database is down. */
const READY_PROBE_TIMEOUT_MS = 1_000;

/** What the probes read. */
export interface HealthDeps {
  store: Store;
  node: string;
  /** Agents connected here. */
  agents: () => number;
}

/** The liveness answer. */
export function live(d: HealthDeps): { status: number; body: Record<string, unknown> } {
  return { status: 200, body: { status: "ok", version: VERSION, node: d.node } };
}

/** Probes the store (probeStore, 1 s) and records the round trip; throws store_unavailable. */
export async function probeReady(d: HealthDeps): Promise<void> {
  const t0 = performance.now();
  try {
    await probeStore(d.store, READY_PROBE_TIMEOUT_MS);
    storeHealth.set({}, (performance.now() - t0) / 1000);
  } catch (e) {
    storeHealth.set({}, -1);
    throw e;
  }
}

/** The readiness answer: 200 when the store answers within a second, 503 otherwise. */
export async function ready(
  d: HealthDeps,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await probeReady(d);
    return { status: 200, body: { status: "ok", node: d.node, agents: d.agents() } };
  } catch (e) {
    const { status, body } = toErrorResponse(e);
    return { status, body: { ...body, node: d.node } };
  }
}

/** The scrape: refreshes the store probe, then renders every metric. */
export async function scrape(d: HealthDeps): Promise<string> {
  await ready(d);
  return metrics.render();
}

/**
 * Starts the unauthenticated `--metrics` listener (bind it to a private address). node:http, as
 * the main listener: in the cloud process @hono/node-server replaces the global Response, which
 * Deno.serve then refuses.
 */
export async function startMetricsListener(
  listen: ListenAddress,
  d: HealthDeps,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer(async (req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    const json = (status: number, body: unknown) =>
      send(status, "application/json", JSON.stringify(body));
    try {
      const path = new URL(req.url ?? "/", "http://x").pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return json(405, { error: "bad_request", message: "GET only" });
      }
      if (path === "/metrics") return send(200, METRICS_CONTENT_TYPE, await scrape(d));
      if (path === "/healthz/live") return json(200, live(d).body);
      if (path === "/healthz/ready") {
        const r = await ready(d);
        return json(r.status, r.body);
      }
      json(404, { error: "not_found", message: "not found" });
    } catch {
      json(500, { error: "internal", message: "internal error" });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.hostname, () => resolve());
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
