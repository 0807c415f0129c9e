/**
 * A tenant's rules for browser terminals — concurrent sessions per user and per device, idle
 * timeout, maximum length, input recording, recording retention — with the defaults the product
 * promises (5, 3, 15 min, 8 h, off, 30 days), and the API's shape of them (seconds and days).
 * @module
 */
import { z } from "zod";
import type { Store, TerminalPolicy } from "../../store/store.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;

/** What a tenant gets until an admin sets otherwise. */
export const DEFAULT_TERMINAL_POLICY: TerminalPolicy = {
  maxPerUser: 5,
  maxPerDevice: 3,
  idleTimeoutMs: 15 * MINUTE,
  maxSessionMs: 8 * 60 * MINUTE,
  recordInput: false,
  retentionMs: 30 * DAY,
};

/** The tenant's policy (its own, or the defaults). */
export async function terminalPolicy(store: Store, tenantId: string): Promise<TerminalPolicy> {
  return (await store.getTerminalPolicy(tenantId)) ?? DEFAULT_TERMINAL_POLICY;
}

/** `PUT /api/terminal/policy`: every field optional, the rest kept. */
export const terminalPolicyBody = z.object({
  maxPerUser: z.number().int().min(1).max(100).optional(),
  maxPerDevice: z.number().int().min(1).max(100).optional(),
  idleTimeoutSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
  maxSessionSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
  recordInput: z.boolean().optional(),
  retentionDays: z.number().int().min(1).max(3650).optional(),
}).strict();

/** The policy as the API shows it. */
export function policyView(p: TerminalPolicy) {
  return {
    maxPerUser: p.maxPerUser,
    maxPerDevice: p.maxPerDevice,
    idleTimeoutSeconds: Math.round(p.idleTimeoutMs / 1000),
    maxSessionSeconds: Math.round(p.maxSessionMs / 1000),
    recordInput: p.recordInput,
    retentionDays: Math.round(p.retentionMs / DAY),
  };
}

/** Applies an API change to a policy. */
export function applyPolicyChange(
  p: TerminalPolicy,
  c: z.infer<typeof terminalPolicyBody>,
): TerminalPolicy {
  return {
    maxPerUser: c.maxPerUser ?? p.maxPerUser,
    maxPerDevice: c.maxPerDevice ?? p.maxPerDevice,
    idleTimeoutMs: c.idleTimeoutSeconds !== undefined
      ? c.idleTimeoutSeconds * 1000
      : p.idleTimeoutMs,
    maxSessionMs: c.maxSessionSeconds !== undefined ? c.maxSessionSeconds * 1000 : p.maxSessionMs,
    recordInput: c.recordInput ?? p.recordInput,
    retentionMs: c.retentionDays !== undefined ? c.retentionDays * DAY : p.retentionMs,
  };
}

/**
 * When to warn before an idle close: a minute ahead, or half-way for timeouts of two minutes or
 * less (so a short test timeout still warns first).
 */
export function idleWarningAfterMs(idleTimeoutMs: number): number {
  return idleTimeoutMs > 2 * MINUTE ? idleTimeoutMs - MINUTE : Math.floor(idleTimeoutMs / 2);
}
