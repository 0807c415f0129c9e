/**
 * `POST /claim` (guide §3, embedded agents): a camera that ships the agent runtime presents its
 * manufacturer serial and a CSR (its key never leaves it). When an admin pre-registered a device
 * with that serial, the device is bound to a new agent of the device's site and the agent gets a
 * certificate like an enrolled one; it then runs the same control stream. An unknown serial is
 * 403, an already claimed one 409; both are audited (`agent.claim.refused`), and claims are
 * rate-limited per client address so serials cannot be guessed quickly. One repeat is not a
 * second claim: the device that claimed the serial — the same key, proven by its CSR's signature
 * — gets its agent again with a fresh certificate while that agent is not revoked and its newest
 * certificate has not expired (what the key could renew over the control stream anyway), because
 * a claim's answer can be lost (a dropped connection, a power cut, a full flash) and the device
 * would otherwise need an admin to revoke and re-add it.
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Logger } from "../../shared/log.ts";
import type { ClaimResult, Store } from "../store/store.ts";
import type { CloudPki } from "../pki.ts";
import { SharedRateLimiter } from "../tenancy/shared_rate_limit.ts";
import { addressKey } from "../tenancy/address_key.ts";
import {
  csrFields,
  type EnrollResponse,
  identityResponse,
  prepareAgent,
  reissue,
} from "./enroll.ts";
import { spkiPin } from "../../shared/crypto/pki.ts";
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
    const keyPin = await spkiPin(certPem);
    const r = await d.store.claimDevice(body.serial, { ...agent, keyPin });
    if (!r.ok && r.reason === "claimed" && r.keyPin === keyPin) {
      const again = await repeatClaim(d, r, body, remote);
      if (again) return c.json(again);
    }
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

/**
 * The device that claimed a serial claiming it again with the same key (see the module
 * comment): its agent with a fresh certificate for that key, or null (then the serial is
 * "already claimed") when the agent is gone or revoked or its newest certificate has expired.
 */
async function repeatClaim(
  d: ClaimDeps,
  r: Extract<ClaimResult, { reason: "claimed" }>,
  body: z.infer<typeof claimRequest>,
  remote: string,
): Promise<EnrollResponse | null> {
  if (!r.agentId) return null;
  const again = await reissue(d, r.agentId, body.csr, d.clock.now());
  if (!again) return null;
  const { agent, signed } = again;
  await d.store.appendAudit({
    tenantId: agent.tenantId,
    actor: `agent:${agent.id}`,
    action: "agent.claim_repeat",
    target: agent.id,
    detail: {
      device: r.deviceId,
      site: agent.siteId,
      serial: body.serial,
      hostname: body.hostname,
      certSerial: signed.serial,
      previousCertSerial: agent.certSerial,
      remote,
    },
  });
  d.log.info(
    { agent: agent.id, device: r.deviceId, site: agent.siteId },
    "device claimed again with its key (its first answer was lost)",
  );
  return identityResponse(d, agent.id, agent.siteId, signed.certPem);
}
