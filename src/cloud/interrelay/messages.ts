/**
 * The JSON bodies of a BridgeTunnel's OPEN and RESULT frames (proto/bridge.md), validated with
 * zod on arrival: a sibling node is trusted to have decided policy, not to send well-formed data.
 * @module
 */
import { z } from "zod";
import { CATALOGUE } from "../../shared/errors.ts";

/** Bridge protocol version carried in every OPEN. */
export const BRIDGE_VERSION = 1;

/** OPEN: what the entry node asks the owning node to do. */
export const bridgeOpen = z.discriminatedUnion("op", [
  z.object({
    v: z.literal(BRIDGE_VERSION),
    op: z.literal("tunnel"),
    /** The agent the entry node chose (connected to the owner). */
    agentId: z.string().min(1).max(100),
    host: z.string().min(1).max(255),
    port: z.number().int().min(1).max(65535),
    /** The node that asks (for logs and audit). */
    from: z.string().min(1).max(64),
  }),
  z.object({
    v: z.literal(BRIDGE_VERSION),
    op: z.literal("discover"),
    agentId: z.string().min(1).max(100),
    windowMs: z.number().int().min(100).max(60_000),
    from: z.string().min(1).max(64),
  }),
]);

/** A parsed OPEN. */
export type BridgeOpen = z.infer<typeof bridgeOpen>;

const errorCode = z.string().refine((c) => c in CATALOGUE) as unknown as z.ZodType<
  keyof typeof CATALOGUE
>;

/** RESULT: success (then DATA flows, or `value` carries a discovery answer) or a catalogued error. */
export const bridgeResult = z.union([
  z.object({ ok: z.literal(true), value: z.unknown().optional() }),
  z.object({ ok: z.literal(false), code: errorCode, message: z.string().max(2000) }),
]);

/** A parsed RESULT. */
export type BridgeResult = z.infer<typeof bridgeResult>;
