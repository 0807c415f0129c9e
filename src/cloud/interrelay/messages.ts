/**
 * The JSON bodies of a BridgeTunnel's OPEN and RESULT frames (proto/bridge.md), validated with
 * zod on arrival: a sibling node is trusted to have decided policy, not to send well-formed data.
 * @module
 */
import { z } from "zod";
import { AppError, CATALOGUE, type ErrorCode } from "../../shared/errors.ts";

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
  z.object({
    v: z.literal(BRIDGE_VERSION),
    op: z.literal("live"),
    /** The agent the entry node chose (connected to the owner). */
    agentId: z.string().min(1).max(100),
    /** The camera's handle (the entry node checked the viewer may use it). */
    handleId: z.string().min(1).max(100),
    /** The stream path, as the live view's `?path=` takes it. */
    path: z.string().max(512).regex(/^\/[\x21-\x7e]*$/),
    /** Who watches, for the audit of the camera credentials' use. */
    actor: z.string().min(1).max(200),
    from: z.string().min(1).max(64),
  }),
]);

/** A parsed OPEN. */
export type BridgeOpen = z.infer<typeof bridgeOpen>;

/**
 * RESULT: success (then DATA flows, or `value` carries a discovery answer) or an error: its
 * catalogue code, message and HTTP status. The code is any short string, not only the codes this
 * node knows: a newer sibling (a rolling upgrade) may answer with a code added after this node
 * was built, and its operator should still get that node's status and message, not "agent
 * reconnecting" (`resultError`).
 */
export const bridgeResult = z.union([
  z.object({ ok: z.literal(true), value: z.unknown().optional() }),
  z.object({
    ok: z.literal(false),
    code: z.string().min(1).max(64),
    message: z.string().max(2000),
    status: z.number().int().min(400).max(599).optional(),
  }),
]);

/** A parsed RESULT. */
export type BridgeResult = z.infer<typeof bridgeResult>;

/** The RESULT body of a refusal: the error's code, message and HTTP status. */
export function failureResult(
  err: AppError,
): { ok: false; code: string; message: string; status: number } {
  return { ok: false, code: err.code, message: err.message, status: err.httpStatus };
}

/**
 * The error a refusing RESULT stands for. A code this node knows is itself; an unknown one (a
 * newer node's) becomes the first catalogued code with the same HTTP status (502 when the peer
 * sent none), keeping the peer's message, so the operator sees what the owner said.
 */
export function resultError(r: { code: string; message: string; status?: number }): AppError {
  if (Object.hasOwn(CATALOGUE, r.code)) return new AppError(r.code as ErrorCode, r.message);
  const status = r.status ?? 502;
  const codes = Object.keys(CATALOGUE) as ErrorCode[];
  const same = codes.find((c) => CATALOGUE[c].http === status) ??
    (status < 500 ? "bad_request" : "device_unreachable");
  return new AppError(same, r.message, { peerCode: r.code });
}
