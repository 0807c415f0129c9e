/**
 * `POST /api/sites/{id}/discovery` (admin; guide §6 "Discover and add cameras"): asks an online
 * agent of the site to run ONVIF WS-Discovery across its LAN and answers with each device's
 * address, XAddrs, manufacturer/model/name and the default ports for its protocols (HTTP from
 * its XAddrs, else 80; RTSP 554), ready for `POST /api/sites/{id}/devices`. No agent online is
 * 503 "agent reconnecting".
 * @module
 */
import { Hono } from "hono";
import type { PortProtocol } from "../store/port_protocols.ts";
import { noAgentError } from "../access/no_agent.ts";
import { AppError } from "../../shared/errors.ts";
import type { DiscoveredDevice, DiscoveryResult } from "../../shared/protocol/control.ts";
import type { Store } from "../store/store.ts";
import type { Registry } from "../control/registry.ts";
import { chooseAgent } from "../tenancy/agent_choice.ts";
import { requireRole } from "../tenancy/roles.ts";
import { type AuthVars, requireAuth } from "./middleware/auth.ts";
import { jsonBody } from "./validate.ts";
import { discoveryBody } from "./schemas.ts";

/** The RTSP port every ONVIF video transmitter is offered with. */
const RTSP_PORT = 554;
/** Default window when the body gives none. */
const DEFAULT_WINDOW_MS = 3_000;

/**
 * The ports to offer for a discovered device with what each speaks: its XAddrs' web ports (HTTP,
 * or HTTPS for an https XAddr; else 80 HTTP), and 554 RTSP.
 */
export function defaultPortProtocols(xaddrs: string[]): Record<number, PortProtocol> {
  const out: Record<number, PortProtocol> = {};
  for (const x of xaddrs) {
    try {
      const u = new URL(x);
      const https = u.protocol === "https:";
      const port = u.port ? Number(u.port) : https ? 443 : 80;
      // Port 0 is no port a device can be reached on (a hostile or broken XAddr): skipped.
      if (port >= 1 && port <= 65535) out[port] = https ? "https" : "http";
    } catch { /* not a URL: skipped */ }
  }
  if (Object.keys(out).length === 0) out[80] = "http";
  out[RTSP_PORT] = "rtsp";
  return out;
}

/** The ports to offer for a discovered device: its XAddrs' HTTP(S) ports (else 80), and 554. */
export function defaultPorts(xaddrs: string[]): number[] {
  return Object.keys(defaultPortProtocols(xaddrs)).map(Number).sort((a, b) => a - b);
}

/** One device of the answer. */
function shape(d: DiscoveredDevice) {
  return {
    address: d.address,
    xaddrs: d.xaddrs,
    manufacturer: d.manufacturer,
    model: d.model,
    name: d.name,
    endpoint: d.endpoint,
    ports: defaultPorts(d.xaddrs),
    protocols: defaultPortProtocols(d.xaddrs),
  };
}

/** What the route needs. */
export interface DiscoveryDeps {
  store: Store;
  registry: Registry;
  /** Asks an agent (on this node, or bridged to its node) to probe for `windowMs`. */
  discover: (agentId: string, windowMs: number) => Promise<DiscoveryResult>;
}

/** The routes under /api (discovery). */
export function discoveryRoutes(d: DiscoveryDeps): Hono<AuthVars> {
  const app = new Hono<AuthVars>();
  app.post("/sites/:id/discovery", requireAuth(d.store), async (c) => {
    const p = c.get("principal");
    requireRole(p.role, "admin");
    const site = await d.store.getSite(p.tenantId, c.req.param("id"));
    if (!site) throw new AppError("not_found", "no such site");
    const body = await jsonBody(c, discoveryBody);
    // Agents whose stream is held by this node (the one that can carry the request).
    // An agent on this node first; else one on a sibling node (d.discover bridges to it).
    const local = d.registry.bySite(site.id);
    const agentId = chooseAgent(null, local.length ? local : await d.store.listPresence(site.id));
    if (!agentId) throw await noAgentError(d.store, p.tenantId, site.id);
    const r = await d.discover(agentId, body.timeoutMs ?? DEFAULT_WINDOW_MS);
    await d.store.appendAudit({
      tenantId: p.tenantId,
      actor: p.actor,
      action: "site.discovery",
      target: site.id,
      detail: {
        agent: agentId,
        devices: r.devices.length,
        dropped: r.dropped || undefined,
        ignored: r.ignored || undefined,
        error: r.error || undefined,
      },
    });
    if (r.error && r.devices.length === 0) {
      throw new AppError("device_unreachable", `discovery failed on the agent: ${r.error}`);
    }
    // `dropped`: devices that answered but did not fit in one result (the agent caps it);
    // `ignored`: replies the agent did not read, past its budget for one round.
    return c.json({
      agent: agentId,
      devices: r.devices.map(shape),
      dropped: r.dropped ?? 0,
      ignored: r.ignored ?? 0,
    });
  });
  return app;
}
