/**
 * The webhook signature (issue 15 item 7): `X-Nanodems-Signature: t=<unix seconds>,v1=<hex>`,
 * where the hex is HMAC-SHA-256 under the webhook's secret of `"<t>.<body>"`. The timestamp is
 * inside the signed text, so a receiver that rejects an old `t` (README: five minutes) cannot be
 * replayed an old delivery. `verifySignature` is what a receiver does, used by the tests.
 * @module
 */
import { encodeHex } from "../../shared/encoding.ts";
import { constantTimeEqual } from "../../shared/crypto/token.ts";

/** The header carrying the signature. */
export const SIGNATURE_HEADER = "X-Nanodems-Signature";

/** How old a signature a receiver should accept (the README's recipe). */
export const REPLAY_WINDOW_S = 300;

async function hmacHex(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return encodeHex(
    new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(text))),
  );
}

/** The header value for `body` signed at `nowMs`. */
export async function signPayload(secret: string, body: string, nowMs: number): Promise<string> {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${await hmacHex(secret, `${t}.${body}`)}`;
}

/** Whether `header` is a valid signature of `body` no older than the replay window at `nowMs`. */
export async function verifySignature(
  secret: string,
  body: string,
  header: string | null,
  nowMs: number,
  windowS = REPLAY_WINDOW_S,
): Promise<boolean> {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  if (Math.abs(nowMs / 1000 - Number(m[1])) > windowS) return false;
  return constantTimeEqual(await hmacHex(secret, `${m[1]}.${body}`), m[2]);
}
