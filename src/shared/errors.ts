/**
 * Errors are values: a code from one catalogue, the guide's user-facing message, and the HTTP
 * and gRPC status each maps to. Every user-visible failure in every role comes from here, so the
 * wording of the guide (§10) is kept in one place.
 * @module
 */

/** gRPC status codes used by the control channel (numeric, as in grpc-js `status`). */
export const GrpcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface Entry {
  http: number;
  grpc: number;
  message: string;
}

/** The catalogue: code → HTTP status, gRPC status and the default user-facing message. */
export const CATALOGUE = {
  bad_request: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT, message: "invalid request" },
  conflicting_credentials: {
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    message: "the request carries two different identities; send one",
  },
  antiforgery: {
    http: 400,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    message: "Antiforgery token mismatch. Hard-refresh the page (Ctrl+Shift+R) and try again.",
  },
  invalid_login: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "wrong email or password",
  },
  rate_limited: {
    http: 429,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "too many attempts; wait a minute and try again",
  },
  auth_required: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "authentication required",
  },
  enrollment_token_invalid: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "enrollment token is not valid",
  },
  enrollment_token_used: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "enrollment token has already been used; download a fresh installer",
  },
  enrollment_token_expired: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "enrollment token has expired; download a fresh installer",
  },
  handle_other_tenant: {
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
    message: "handle does not belong to your tenant",
  },
  forbidden: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, message: "forbidden" },
  target_not_allowed: {
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
    message: "Target not in allowlist",
  },
  unknown_cn: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, message: "unknown CN" },
  agent_revoked: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED, message: "agent revoked" },
  certificate_expired: {
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
    message: "certificate expired: re-enroll",
  },
  renewal_refused: {
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
    message: "certificate renewal refused",
  },
  not_found: { http: 404, grpc: GrpcStatus.NOT_FOUND, message: "not found" },
  unknown_handle: { http: 404, grpc: GrpcStatus.NOT_FOUND, message: "unknown handle" },
  conflict: { http: 409, grpc: GrpcStatus.FAILED_PRECONDITION, message: "conflict" },
  device_unreachable: {
    http: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "device unreachable",
  },
  agent_offline: { http: 503, grpc: GrpcStatus.UNAVAILABLE, message: "agent reconnecting" },
  agent_data_unreachable: {
    http: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message:
      "the agent is online but cannot open a data connection to the cloud; the site's network must allow outbound TCP to the cloud's data port",
  },
  no_agent_yet: {
    http: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "no agent has connected to this site yet: install one from the site page",
  },
  store_unavailable: {
    http: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "the cloud cannot reach its database; try again shortly",
  },
  device_timeout: {
    http: 504,
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    message: "device did not respond in time",
  },
  camera_refused: {
    http: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "the camera refused the live stream",
  },
  not_implemented: { http: 501, grpc: GrpcStatus.UNIMPLEMENTED, message: "not implemented" },
  payload_too_large: {
    http: 413,
    grpc: GrpcStatus.INVALID_ARGUMENT,
    message: "request body too large",
  },
  foreign_redirect: {
    http: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "the device sent the browser to an address outside this device; not followed",
  },
  internal: { http: 500, grpc: GrpcStatus.INTERNAL, message: "internal error" },
  serial_unknown: {
    http: 403,
    grpc: GrpcStatus.PERMISSION_DENIED,
    message:
      "unknown serial: no device with this serial is registered; ask the site admin to add it",
  },
  serial_claimed: {
    http: 409,
    grpc: GrpcStatus.FAILED_PRECONDITION,
    message:
      "this serial has already been claimed; revoke its agent and re-add the device to claim again",
  },
  terminal_limit: {
    http: 429,
    grpc: GrpcStatus.UNAVAILABLE,
    message: "too many terminal sessions",
  },
  host_key_changed: {
    http: 409,
    grpc: GrpcStatus.FAILED_PRECONDITION,
    message: "WARNING: the device's SSH host key has changed. Someone may be intercepting the " +
      "connection, or the device was reinstalled. An admin must accept the new key.",
  },
  ssh_auth_failed: {
    http: 401,
    grpc: GrpcStatus.UNAUTHENTICATED,
    message: "the device refused the SSH login",
  },
  discovery_timeout: {
    http: 504,
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    message: "the agent did not answer the discovery request in time",
  },
} as const satisfies Record<string, Entry>;

/** One of the catalogue's codes. */
export type ErrorCode = keyof typeof CATALOGUE;

/** A failure with a catalogue code; `message` is safe to show to the user. */
export class AppError extends Error {
  /** The catalogue code. */
  readonly code: ErrorCode;
  /** Optional details for logs (never shown to clients). */
  readonly detail?: Record<string, unknown>;
  /** Creates an error; `message` defaults to the catalogue's wording. */
  constructor(code: ErrorCode, message?: string, detail?: Record<string, unknown>) {
    super(message ?? CATALOGUE[code].message);
    this.name = "AppError";
    this.code = code;
    this.detail = detail;
  }
  /** The HTTP status for this error. */
  get httpStatus(): number {
    return CATALOGUE[this.code].http;
  }
  /** The gRPC status for this error. */
  get grpcStatus(): number {
    return CATALOGUE[this.code].grpc;
  }
}

/**
 * An error written down by one node (its code and message, e.g. a live-view failure in the store)
 * as another node answers it; a code this version does not know is a 502 with the same message.
 */
export function storedAppError(e: { code: string; message: string }): AppError {
  return Object.hasOwn(CATALOGUE, e.code)
    ? new AppError(e.code as ErrorCode, e.message)
    : new AppError("camera_refused", e.message);
}

/** The JSON body of every error response: `{error, message}`. */
export interface ErrorBody {
  error: ErrorCode;
  message: string;
}

/**
 * Maps anything thrown to a status and a body that is safe to send: AppErrors keep their code
 * and message; anything else becomes a generic 500 with no internals.
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof AppError) {
    return { status: err.httpStatus, body: { error: err.code, message: err.message } };
  }
  return { status: 500, body: { error: "internal", message: CATALOGUE.internal.message } };
}
