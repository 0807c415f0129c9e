/**
 * The cloud's probes and scrape, answered the same on the HTTP port and on the separate
 * `--metrics` listener: `/healthz/live` (the process runs), `/healthz/ready` (the store answers
 * and the listeners are up; 503 otherwise) and the Prometheus text of `/metrics`. The store probe
 * also sets `connector_mongo_health_seconds`.
 * @module
 */
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

/** Starts the unauthenticated `--metrics` listener (bind it to a private address). */
export function startMetricsListener(
  listen: ListenAddress,
  d: HealthDeps,
): { port: number; close(): Promise<void> } {
  const server = Deno.serve(
    { hostname: listen.hostname, port: listen.port, onListen: () => {} },
    async (req) => {
      const path = new URL(req.url).pathname;
      if (req.method !== "GET" && req.method !== "HEAD") {
        return Response.json({ error: "bad_request", message: "GET only" }, { status: 405 });
      }
      if (path === "/metrics") {
        return new Response(await scrape(d), { headers: { "content-type": METRICS_CONTENT_TYPE } });
      }
      if (path === "/healthz/live") {
        const r = live(d);
        return Response.json(r.body, { status: r.status });
      }
      if (path === "/healthz/ready") {
        const r = await ready(d);
        return Response.json(r.body, { status: r.status });
      }
      return Response.json({ error: "not_found", message: "not found" }, { status: 404 });
    },
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}
