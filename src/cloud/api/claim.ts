/**
 * `POST /claim` (guide §3, embedded agents): a camera that ships the agent runtime presents its
 * manufacturer serial and a CSR (its key never leaves it). When an admin pre-registered a device
 * with that serial, the device is bound to a new agent of the device's site and the agent gets a
 * certificate like an enrolled one; it then runs the same control stream. An unknown serial is
 * 403, an already claimed one 409; both are audited (`agent.claim.refused`), and claims are
 * rate-limited per client address so serials cannot be guessed quickly.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { Store } from "../store/store.ts";
import type { CloudPki } from "../pki.ts";
import { SharedRateLimiter } from "../tenancy/shared_rate_limit.ts";
import { addressKey } from "../tenancy/address_key.ts";
import { csrFields, identityResponse, prepareAgent } from "./enroll.ts";
import { jsonBody } from "./validate.ts";

/** Claims per client address per minute. */
export const CLAIMS_PER_MINUTE = 10;

/** The request body of POST /claim. */
export const claimRequest = z.object({
  serial: z.string().trim().regex(/^[A-Za-z0-9._-]{4,64}$/, "expected the device's serial"),
  ...csrFields,
});

/** What the claim route needs. */
export interface ClaimDeps {
  store: Store;
  pki: CloudPki;
  clock: Clock;
  controlEndpoint: () => string;
  log: Logger;
  remote: (c: Context) => string;
}

/** The /claim route. */
export function claimRoutes(d: ClaimDeps): Hono {
  const app = new Hono();
  // In the store: behind a load balancer, every node counts in the same window.
  const perIp = new SharedRateLimiter(d.store, "claim-ip", CLAIMS_PER_MINUTE, 60_000);
  app.post("/claim", async (c) => {
    const remote = d.remote(c);
    if (!await perIp.take(addressKey(remote))) throw new AppError("rate_limited");
    const body = await jsonBody(c, claimRequest);
    const { agent, certPem } = await prepareAgent(d.pki, body);
    const agentId = agent.id;
    const r = await d.store.claimDevice(body.serial, agent);
    if (!r.ok) {
      await d.store.appendAudit({
        tenantId: r.reason === "claimed" ? r.tenantId : null,
        actor: `ip:${remote}`,
        action: "agent.claim.refused",
        target: r.reason === "claimed" ? r.deviceId : "",
        detail: { reason: r.reason, serial: body.serial, hostname: body.hostname },
      });
      d.log.warn({ reason: r.reason, remote }, "claim refused");
      throw new AppError(r.reason === "claimed" ? "serial_claimed" : "serial_unknown");
    }
    await d.store.appendAudit({
      tenantId: r.agent.tenantId,
      actor: `agent:${agentId}`,
      action: "agent.claim",
      target: agentId,
      detail: {
        device: r.device.id,
        site: r.agent.siteId,
        serial: body.serial,
        hostname: body.hostname,
        certSerial: agent.certSerial,
        remote,
      },
    });
    d.log.info({ agent: agentId, device: r.device.id, site: r.agent.siteId }, "device claimed");
    return c.json(identityResponse(d, agentId, r.agent.siteId, certPem));
  });
  return app;
}
