/**
 * The one place the RTSP gateway turns a failure into an RTSP status line. RTSP/1.0 shares
 * HTTP's status codes for everything the error catalogue knows (401, 403, 404, 502, 503, 504),
 * so the catalogue's HTTP status is the RTSP status and its message — the guide's wording — is
 * the reason phrase a player shows. 461 is RTSP's own.
 * @module
 */
import { AppError, CATALOGUE } from "../../../shared/errors.ts";
import { soundChanged } from "../sound_setting.ts";

/** The realm of the gateway's own Basic challenge. */
export const GATEWAY_REALM = "Nanodems Connector";

/** A refusal: status, reason phrase, extra headers. */
export interface Refusal {
  status: number;
  reason: string;
  headers: [string, string][];
}

/** 461: the client asked for a transport other than RTP over the RTSP connection (TCP). */
export const UNSUPPORTED_TRANSPORT: Refusal = {
  status: 461,
  reason: "Unsupported Transport",
  headers: [],
};

/**
 * 403 for a SETUP of a track the camera's sound-off setting removed (sound_off.ts): the player
 * may go on with the picture's track, so the connection stays open.
 */
export const SOUND_OFF: Refusal = {
  status: 403,
  reason: soundChanged(false),
  headers: [],
};

/** Refusals after which the connection goes on (the player may ask for something else). */
export const KEEP_OPEN: ReadonlySet<Refusal> = new Set([UNSUPPORTED_TRANSPORT, SOUND_OFF]);

/** Maps anything thrown to the status line and headers the client gets (never internals). */
export function refusalFor(err: unknown): Refusal {
  if (!(err instanceof AppError)) {
    return { status: 500, reason: CATALOGUE.internal.message, headers: [] };
  }
  const status = err.httpStatus;
  return {
    status,
    reason: err.message,
    headers: status === 401 ? [["WWW-Authenticate", `Basic realm="${GATEWAY_REALM}"`]] : [],
  };
}
