/**
 * Request body limits for the cloud's own routes, enforced before a body is read: every JSON or
 * form route takes at most {@link MAX_JSON_BODY_BYTES}; a declared Content-Length over it is
 * refused without reading a byte, a chunked body is counted as it arrives and cut at the limit.
 * The answer is 413 `{error: "payload_too_large", message}` and the connection is closed, so the
 * rest of an oversized body is never buffered. (The browser proxy streams request bodies to the
 * device and is not under this limit: firmware uploads are legitimately large.)
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { CATALOGUE } from "../../../shared/errors.ts";

/** The largest body a JSON or form route accepts. */
export const MAX_JSON_BODY_BYTES = 1 << 20;

/** Middleware factory: 413 for bodies over `maxSize` bytes. */
export function limitBody(maxSize = MAX_JSON_BODY_BYTES): MiddlewareHandler {
  return bodyLimit({
    maxSize,
    onError: (c) =>
      c.json(
        {
          error: "payload_too_large",
          message: `${CATALOGUE.payload_too_large.message} (at most ${maxSize} bytes)`,
        },
        413,
        { connection: "close" },
      ),
  });
}
