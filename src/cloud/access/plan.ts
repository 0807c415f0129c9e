/**
 * The CLI tunnel's bind plan (guide §7): every (loopback IP, port) of the devices in a CLI
 * session's sites, with the site and device it stands for; and the reverse, a (loopback IP,
 * port) the CLI accepted a connection on, back to the device port's handle.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { ensureHandle } from "../tenancy/handle.ts";
import type { RouteDeps } from "./route.ts";
import type { PlanEntry } from "../../shared/protocol/plan.ts";

/** The plan of a CLI session: its sites' devices' loopback pairs, sorted by IP then port. */
export async function buildPlan(d: RouteDeps, p: Principal): Promise<PlanEntry[]> {
  const out: PlanEntry[] = [];
  for (const siteId of p.siteIds ?? []) {
    const site = await d.store.getSite(p.tenantId, siteId);
    if (!site) continue;
    for (const dev of await d.store.listDevices(p.tenantId, siteId)) {
      for (const port of dev.ports) {
        out.push({
          ip: dev.loopbackIp,
          port,
          siteId,
          site: site.name,
          deviceId: dev.id,
          device: dev.label || dev.host,
        });
      }
    }
  }
  const key = (e: PlanEntry) => e.ip.split(".").map((x) => x.padStart(3, "0")).join(".");
  return out.sort((a, b) => key(a).localeCompare(key(b)) || a.port - b.port);
}

/** The handle of the device port behind (ip, port) in the session's scope; 404 otherwise. */
export async function resolveLoopback(
  d: RouteDeps,
  p: Principal,
  ip: string,
  port: number,
): Promise<string> {
  // One indexed lookup (loopback addresses are unique), then the session's site scope.
  const dev = await d.store.getDeviceByLoopback(p.tenantId, ip);
  if (dev && dev.ports.includes(port) && (p.siteIds ?? []).includes(dev.siteId)) {
    const h = await ensureHandle(d.store, d.clock, {
      tenantId: dev.tenantId,
      siteId: dev.siteId,
      deviceId: dev.id,
      port,
    });
    return h.id;
  }
  throw new AppError("not_found", `no device at ${ip}:${port} in this CLI session`);
}
