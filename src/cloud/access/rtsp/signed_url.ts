/**
 * Signed, expiring RTSP URLs: what a player such as VLC or ffmpeg can carry when it cannot send
 * a bearer header. The token is bound to one handle, one user, the credential that minted it
 * (the API token or the browser session, by its SHA-256) and an expiry; it is an HMAC-SHA-256
 * (truncated to 128 bits) under a key derived from the cloud secret, so every node sharing the
 * secret verifies it. The gateway checks at each connection, and the live-access watcher again
 * whenever something changes, that the user and the minting credential still hold and the handle
 * is still reachable, so the URL and its streams die with that access — and only with it.
 *
 * Where it goes: in the first path segment, `rtsp://cloud:9554/{handle}.{token}/{rest}`, so the
 * URLs a player derives from Content-Base (SETUP, PLAY) keep it; `?nc={token}` on the request
 * URI is accepted too. Either is stripped before anything reaches the device.
 * @module
 */
import { decodeBase64Url, encodeBase64Url, encodeHex } from "../../../shared/encoding.ts";
import type { CloudSecret } from "../../tenancy/cloud_secret.ts";

/** Default lifetime of a minted URL. */
export const RTSP_URL_TTL_MS = 12 * 3_600_000;

/** The query parameter that may carry the token. */
export const TOKEN_PARAM = "nc";

/** What a token says. */
export interface RtspUrlClaims {
  handle: string;
  userId: string;
  /** The credential that minted the URL: a user's API token or a browser session. */
  via: "api_token" | "session";
  /** SHA-256 (hex) of the minting token or session, re-checked like any live credential. */
  credentialHash: string;
  /** Epoch ms (second precision). */
  expiresAt: number;
}

const VERSION = 2;
const VIA_CODES = { api_token: 1, session: 2 } as const;
const HASH_BYTES = 32;
const MAC_BYTES = 16;
const HEAD = 1 + 4 + 1 + HASH_BYTES;

/** Signs and verifies RTSP URL tokens. */
export class RtspUrlSigner {
  #key: CryptoKey;

  private constructor(key: CryptoKey) {
    this.#key = key;
  }

  /** Derives the signing key from the cloud secret. */
  static async create(secret: CloudSecret): Promise<RtspUrlSigner> {
    return new RtspUrlSigner(await secret.hmacKey("rtsp-url-v1"));
  }

  async #mac(c: RtspUrlClaims, expSec: number): Promise<Uint8Array> {
    const text =
      `nanodems rtsp url v2\n${c.handle}\n${c.userId}\n${c.via}\n${c.credentialHash}\n${expSec}`;
    const full = await crypto.subtle.sign("HMAC", this.#key, new TextEncoder().encode(text));
    return new Uint8Array(full).subarray(0, MAC_BYTES);
  }

  /** The token for `claims` (base64url, no dots). */
  async sign(claims: RtspUrlClaims): Promise<string> {
    if (!/^[0-9a-f]{64}$/.test(claims.credentialHash)) throw new Error("credentialHash: 64 hex");
    const expSec = Math.floor(claims.expiresAt / 1000);
    const uid = new TextEncoder().encode(claims.userId);
    const out = new Uint8Array(HEAD + MAC_BYTES + uid.length);
    const view = new DataView(out.buffer);
    out[0] = VERSION;
    view.setUint32(1, expSec);
    out[5] = VIA_CODES[claims.via];
    for (let i = 0; i < HASH_BYTES; i++) {
      out[6 + i] = parseInt(claims.credentialHash.slice(2 * i, 2 * i + 2), 16);
    }
    out.set(await this.#mac(claims, expSec), HEAD);
    out.set(uid, HEAD + MAC_BYTES);
    return encodeBase64Url(out);
  }

  /** The claims of a valid, unexpired token for `handle`; null otherwise (never throws). */
  async verify(handle: string, token: string, now: number): Promise<RtspUrlClaims | null> {
    let raw: Uint8Array;
    try {
      raw = decodeBase64Url(token);
    } catch {
      return null;
    }
    if (raw.length < HEAD + MAC_BYTES + 1 || raw[0] !== VERSION) return null;
    const expSec = new DataView(raw.buffer, raw.byteOffset).getUint32(1);
    const via = raw[5] === 1 ? "api_token" : raw[5] === 2 ? "session" : null;
    if (!via) return null;
    const credentialHash = encodeHex(raw.subarray(6, HEAD));
    const mac = raw.subarray(HEAD, HEAD + MAC_BYTES);
    let userId: string;
    try {
      userId = new TextDecoder("utf-8", { fatal: true }).decode(raw.subarray(HEAD + MAC_BYTES));
    } catch {
      return null;
    }
    const claims: RtspUrlClaims = {
      handle,
      userId,
      via,
      credentialHash,
      expiresAt: expSec * 1000,
    };
    const want = await this.#mac(claims, expSec);
    let diff = 0;
    for (let i = 0; i < MAC_BYTES; i++) diff |= want[i] ^ mac[i];
    if (diff !== 0 || claims.expiresAt <= now) return null;
    return claims;
  }
}

/** Splits the first path segment `{handle}` or `{handle}.{token}`. */
export function splitRoute(segment: string): { handle: string; token: string | null } {
  const dot = segment.indexOf(".");
  return dot < 0
    ? { handle: segment, token: null }
    : { handle: segment.slice(0, dot), token: segment.slice(dot + 1) || null };
}
