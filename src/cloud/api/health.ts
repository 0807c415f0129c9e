/**
 * The cloud's probes and scrape, answered the same on the HTTP port and on the separate
 * `--metrics` listener: `/healthz/live` (the process runs), `/healthz/ready` (the store answers
 * and the listeners are up; 503 otherwise) and the Prometheus text of `/metrics`. The store probe
 * also sets `connector_mongo_health_seconds`.
 * @module
 */
import * as http from "node:http";
import { VERSION } from "../../shared/version.ts";
import { metrics, METRICS_CONTENT_TYPE } from "../../shared/metrics.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { Store } from "../store/store.ts";
import { storeHealth } from "../cloud_metrics.ts";

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

/** The readiness answer: one store round trip, timed (and bounded to 5 s). */
export async function ready(
  d: HealthDeps,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      d.store.incrementCounter("changes", 0),
      new Promise((_, reject) => timer = setTimeout(() => reject(new Error("timed out")), 5_000)),
    ]);
    storeHealth.set({}, (performance.now() - t0) / 1000);
    return { status: 200, body: { status: "ok", node: d.node, agents: d.agents() } };
  } catch (e) {
    storeHealth.set({}, -1);
    return {
      status: 503,
      body: {
        status: "unavailable",
        node: d.node,
        message: `the store does not answer: ${(e as Error).message}`,
      },
    };
  } finally {
    clearTimeout(timer);
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
