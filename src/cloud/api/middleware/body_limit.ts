/**
 * Request body limits for the cloud's own routes, enforced before a body is read: every JSON or
 * form route takes at most {@link MAX_JSON_BODY_BYTES}; a declared Content-Length over it is
 * refused without reading a byte, a chunked body is counted as it arrives and cut at the limit.
 * The answer is 413 `{error: "payload_too_large", message}` and the connection is closed, so the
 * rest of an oversized body is never buffered; a body the client abandons half-way is its own
 * error (400), not a fault of the cloud. (The browser proxy streams request bodies to the device
 * and is not under this limit: firmware uploads are legitimately large.)
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { AppError, CATALOGUE } from "../../../shared/errors.ts";

/** The largest body a JSON or form route accepts. */
export const MAX_JSON_BODY_BYTES = 1 << 20;

function tooLarge(c: Context, maxSize: number): Response {
  return c.json(
    {
      error: "payload_too_large",
      message: `${CATALOGUE.payload_too_large.message} (at most ${maxSize} bytes)`,
    },
    413,
    { connection: "close" },
  );
}

/** Reads a body of unknown length up to `maxSize` bytes; null when it is larger. */
async function readCapped(body: ReadableStream<Uint8Array>, maxSize: number) {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxSize) {
        reader.cancel().catch(() => {});
        return null;
      }
      parts.push(value);
    }
  } catch {
    throw new AppError("bad_request", "the request body was not received whole");
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Middleware factory: 413 for bodies over `maxSize` bytes. */
export function limitBody(maxSize = MAX_JSON_BODY_BYTES): MiddlewareHandler {
  return async (c, next) => {
    const raw = c.req.raw;
    if (!raw.body) return await next();
    const declared = raw.headers.get("content-length");
    if (declared !== null && !raw.headers.has("transfer-encoding")) {
      if (Number(declared) > maxSize) return tooLarge(c, maxSize);
      return await next();
    }
    const body = await readCapped(raw.body, maxSize);
    if (!body) return tooLarge(c, maxSize);
    c.req.raw = new Request(raw, { body });
    await next();
  };
}
