/**
 * The CLI tunnel's bind plan (guide §7): every (loopback IP, port) of the devices in a CLI
 * session's sites, with the site and device it stands for, the port's protocol and a camera's
 * stream path (so the CLI can print the URL to open); and the reverse, a (loopback IP,
 * port) the CLI accepted a connection on, back to the device port's handle.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { ensureHandle } from "../tenancy/handle.ts";
import type { RouteDeps } from "./route.ts";
import type { PlanEntry } from "../../shared/protocol/plan.ts";
import { protocolOf } from "../store/port_protocols.ts";

/** The plan of a CLI session: its sites' devices' loopback pairs, sorted by IP then port. */
export async function buildPlan(
  d: Pick<RouteDeps, "store">,
  p: Pick<Principal, "tenantId" | "siteIds">,
): Promise<PlanEntry[]> {
  // Two queries whatever the number of sites (a session over every site of a big tenant read
  // each site and its devices apart, on every CLI's refresh).
  const sites = new Map(
    (await d.store.getSitesById(p.tenantId, p.siteIds ?? [])).map((s) => [s.id, s]),
  );
  const out: PlanEntry[] = [];
  for (const dev of await d.store.listDevicesOfSites(p.tenantId, [...sites.keys()])) {
    const site = sites.get(dev.siteId)!;
    for (const port of dev.ports) {
      out.push({
        ip: dev.loopbackIp,
        port,
        siteId: site.id,
        site: site.name,
        deviceId: dev.id,
        device: dev.label || dev.host,
        protocol: protocolOf(dev, port),
        ...(dev.streamPaths[port] ? { path: dev.streamPaths[port] } : {}),
        ...(dev.subStreamPaths[port] && dev.subStreamPaths[port] !== dev.streamPaths[port]
          ? { subPath: dev.subStreamPaths[port] }
          : {}),
      });
    }
  }
  // Each entry's place computed once (address as a number, then port): a comparator that built
  // padded strings per comparison took 100 ms of the node's loop for a plan of 10 000 entries.
  const keyed = out.map((e) => ({ e, k: ipNumber(e.ip) * 65_536 + e.port }));
  return keyed.sort((a, b) => a.k - b.k).map((x) => x.e);
}

/** An IPv4 address as a number (a loopback address of the plan: always four octets). */
function ipNumber(ip: string): number {
  let n = 0;
  for (const octet of ip.split(".")) n = n * 256 + Number(octet);
  return n;
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
