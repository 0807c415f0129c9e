/**
 * Bearer secrets (enrollment tokens, API tokens, CLI sessions, keys): how they are minted, hashed
 * for storage and compared. Every token is 256 random bits behind a prefix that says what it is;
 * the store only ever sees the SHA-256 hash; comparisons take constant time.
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { encodeBase64Url } from "../encoding.ts";

/** Prefixes of the credential kinds. */
export type TokenPrefix = "enr" | "nt" | "ops" | "nk" | "inv";

/** Mints `${prefix}_` + 43 characters of base64url (256 random bits). */
export function mintToken(prefix: TokenPrefix): string {
  return `${prefix}_${encodeBase64Url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** True when `text` looks like a token of that prefix (shape only, not validity). */
export function isTokenShape(text: string, prefix: TokenPrefix): boolean {
  return new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`).test(text);
}

/** SHA-256 of the token text, lowercase hex: the only form a token is stored in. */
export function hashToken(text: string): Promise<string> {
  // Synchronous: it runs on every authenticated request, and WebCrypto's digest is an async
  // op with a trip through the event loop for 50 bytes.
  return Promise.resolve(createHash("sha256").update(text).digest("hex"));
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.byteLength !== y.byteLength) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/**
 * The enrollment token as handed to a site technician: the one-shot secret and the pin of the
 * cloud's agent CA in one string, `enr_<secret>.<64 hex>`, so the agent can tell the real cloud
 * from an impostor before trusting anything it is sent (like kubeadm's discovery hash). During an
 * agent CA rotation the token carries both CAs' pins, `enr_<secret>.<64 hex>.<64 hex>`, so an
 * agent enrolled then trusts the CA the servers switch to as well.
 */
export interface JoinToken {
  /** The secret part, `enr_…`. */
  token: string;
  /** `sha256:<hex>` of the agent CA's public key, or null when the pin is given separately. */
  pin: string | null;
  /** Every pin the token carries (the first is `pin`); empty when none. */
  pins: string[];
}

/**
 * Formats a join token from the secret and a `sha256:<hex>` pin — or several, separated by
 * commas (a CA rotation is under way).
 */
export function formatJoinToken(token: string, pin: string): string {
  const pins = pin.split(",").map((p) => p.trim().replace(/^sha256:/, "")).filter(Boolean);
  return [token, ...pins].join(".");
}

/** Parses `enr_<secret>[.<64 hex>[.<64 hex>]]`; null when the shape is wrong. */
export function parseJoinToken(text: string): JoinToken | null {
  const m = /^(enr_[A-Za-z0-9_-]{43})((?:\.[0-9a-f]{64}){0,2})$/.exec(text.trim());
  if (!m) return null;
  const pins = m[2].split(".").filter(Boolean).map((h) => `sha256:${h}`);
  return { token: m[1], pin: pins[0] ?? null, pins };
}

/** Normalizes a pin given as `sha256:<hex>` or bare hex; null when malformed. */
export function parsePin(text: string): string | null {
  const m = /^(?:sha256:)?([0-9a-fA-F]{64})$/.exec(text.trim());
  return m ? `sha256:${m[1].toLowerCase()}` : null;
}
