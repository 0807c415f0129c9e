/**
 * Answering a device's own HTTP/RTSP authentication challenge with credentials the cloud holds,
 * so operators never see camera passwords. Pure functions, independent of the protocol that
 * carries them (the RTSP gateway and the browser proxy both use them): parse the device's
 * `WWW-Authenticate` header(s), pick the strongest challenge we can answer, and build the
 * `Authorization` value for a given method and request URI — Basic (RFC 7617) or Digest
 * (RFC 7616, and RFC 2617/2069 as cameras still speak them): MD5, MD5-sess, SHA-256,
 * SHA-256-sess, qop auth / auth-int, nc and cnonce, opaque, stale.
 *
 * The request URI must be the one the device sees on the request line (Digest signs it), which
 * is why a rewriting gateway answers the challenge itself rather than letting the client do it.
 * @module
 */
import { createHash } from "node:crypto";

/** Credentials of a device (held encrypted by the cloud; see tenancy/device_secrets.ts). */
export interface DeviceCredentials {
  username: string;
  /** "" when the device is reached with a key only. */
  password: string;
  /** An SSH private key (OpenSSH or PEM text) for the browser terminal, when held. */
  privateKey?: string;
}

/** Digest algorithms we can answer. */
export type DigestAlgorithm = "MD5" | "MD5-sess" | "SHA-256" | "SHA-256-sess";

/** One parsed challenge. */
export type Challenge =
  | { scheme: "basic"; realm: string }
  | {
    scheme: "digest";
    realm: string;
    nonce: string;
    opaque?: string;
    algorithm: DigestAlgorithm;
    /** The qop options offered (empty: RFC 2069 style, no qop). */
    qop: string[];
    /** The nonce was stale: retry with the new one without asking for credentials again. */
    stale: boolean;
    /** The server asks for the hashed user name (RFC 7616 §3.4.4). */
    userhash: boolean;
  };

/** Splits a header value into auth-params and scheme tokens, honouring quoted strings. */
function tokenize(value: string): { scheme?: string; key?: string; val?: string }[] {
  const out: { scheme?: string; key?: string; val?: string }[] = [];
  let i = 0;
  const n = value.length;
  const skip = () => {
    while (i < n && (value[i] === " " || value[i] === "\t" || value[i] === ",")) i++;
  };
  while (i < n) {
    skip();
    if (i >= n) break;
    const start = i;
    while (i < n && !/[\s,=]/.test(value[i])) i++;
    const word = value.slice(start, i);
    let j = i;
    while (j < n && (value[j] === " " || value[j] === "\t")) j++;
    if (value[j] === "=" && word) {
      // key=value (value may be quoted), or a token68 ending in '=' padding.
      i = j + 1;
      while (i < n && (value[i] === " " || value[i] === "\t")) i++;
      if (value[i] === '"') {
        i++;
        let v = "";
        while (i < n && value[i] !== '"') {
          if (value[i] === "\\" && i + 1 < n) i++;
          v += value[i++];
        }
        i++; // closing quote
        out.push({ key: word.toLowerCase(), val: v });
      } else {
        const vs = i;
        while (i < n && value[i] !== "," && value[i] !== " " && value[i] !== "\t") i++;
        out.push({ key: word.toLowerCase(), val: value.slice(vs, i) });
      }
    } else if (word) {
      out.push({ scheme: word.toLowerCase() });
    } else {
      i++;
    }
  }
  return out;
}

function algorithmOf(text: string | undefined): DigestAlgorithm | null {
  switch ((text ?? "MD5").toUpperCase()) {
    case "MD5":
      return "MD5";
    case "MD5-SESS":
      return "MD5-sess";
    case "SHA-256":
      return "SHA-256";
    case "SHA-256-SESS":
      return "SHA-256-sess";
    default:
      return null;
  }
}

/**
 * Parses every challenge in one or more `WWW-Authenticate` values. Challenges we cannot answer
 * (unknown scheme or algorithm, Digest without nonce) are left out; malformed input never throws.
 */
export function parseChallenges(headers: string | string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of Array.isArray(headers) ? headers : [headers]) {
    let current: { scheme: string; params: Record<string, string> } | null = null;
    const flush = () => {
      if (!current) return;
      const p = current.params;
      if (current.scheme === "basic") out.push({ scheme: "basic", realm: p.realm ?? "" });
      if (current.scheme === "digest" && p.nonce) {
        const algorithm = algorithmOf(p.algorithm);
        if (algorithm) {
          out.push({
            scheme: "digest",
            realm: p.realm ?? "",
            nonce: p.nonce,
            ...(p.opaque !== undefined ? { opaque: p.opaque } : {}),
            algorithm,
            qop: (p.qop ?? "").split(",").map((q) => q.trim().toLowerCase()).filter(Boolean),
            stale: (p.stale ?? "").toLowerCase() === "true",
            userhash: (p.userhash ?? "").toLowerCase() === "true",
          });
        }
      }
      current = null;
    };
    for (const t of tokenize(value)) {
      if (t.scheme) {
        flush();
        current = { scheme: t.scheme, params: {} };
      } else if (current && t.key && !(t.key in current.params)) {
        current.params[t.key] = t.val ?? "";
      }
    }
    flush();
  }
  return out;
}

const STRENGTH: Record<DigestAlgorithm, number> = {
  "SHA-256-sess": 4,
  "SHA-256": 4,
  "MD5-sess": 2,
  "MD5": 2,
};

/** The challenge to answer: the strongest Digest we support, else Basic; null when none. */
export function chooseChallenge(challenges: Challenge[]): Challenge | null {
  let best: Challenge | null = null;
  for (const c of challenges) {
    if (
      c.scheme === "digest" && c.qop.length && !c.qop.includes("auth") &&
      !c.qop.includes("auth-int")
    ) continue;
    if (!best) best = c;
    else if (c.scheme === "digest" && best.scheme === "basic") best = c;
    else if (
      c.scheme === "digest" && best.scheme === "digest" &&
      STRENGTH[c.algorithm] > STRENGTH[best.algorithm]
    ) best = c;
  }
  return best;
}

function hash(alg: DigestAlgorithm, text: string | Uint8Array): string {
  return createHash(alg.startsWith("SHA-256") ? "sha256" : "md5").update(text).digest("hex");
}

/** Quotes a value for a quoted-string (backslash-escapes `"` and `\`). */
function quote(v: string): string {
  return `"${v.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** The `Authorization: Basic …` value (UTF-8, RFC 7617). */
export function basicAuthorization(c: DeviceCredentials): string {
  const bytes = new TextEncoder().encode(`${c.username}:${c.password}`);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return `Basic ${btoa(bin)}`;
}

/** Input of {@linkcode authorization}. */
export interface AuthorizeInput {
  challenge: Challenge;
  /** Request method (GET, DESCRIBE, …). */
  method: string;
  /** The request URI exactly as on the request line the device receives. */
  uri: string;
  credentials: DeviceCredentials;
  /** Nonce count: 1 for the first request with this nonce, then 2, 3, … */
  nc?: number;
  /** Client nonce; random when omitted (tests pin it). */
  cnonce?: string;
  /** The request body, for qop=auth-int. */
  body?: Uint8Array;
}

/** Builds the `Authorization` header value answering `challenge`. */
export function authorization(input: AuthorizeInput): string {
  const { challenge: ch, method, uri, credentials: cred } = input;
  if (ch.scheme === "basic") return basicAuthorization(cred);
  const alg = ch.algorithm;
  const qop = ch.qop.includes("auth") ? "auth" : ch.qop.includes("auth-int") ? "auth-int" : null;
  const nc = (input.nc ?? 1).toString(16).padStart(8, "0");
  const cnonce = input.cnonce ?? newCnonce();
  let ha1 = hash(alg, `${cred.username}:${ch.realm}:${cred.password}`);
  if (alg.endsWith("-sess")) ha1 = hash(alg, `${ha1}:${ch.nonce}:${cnonce}`);
  const a2 = qop === "auth-int"
    ? `${method}:${uri}:${hash(alg, input.body ?? new Uint8Array())}`
    : `${method}:${uri}`;
  const ha2 = hash(alg, a2);
  const response = qop
    ? hash(alg, `${ha1}:${ch.nonce}:${nc}:${cnonce}:${qop}:${ha2}`)
    : hash(alg, `${ha1}:${ch.nonce}:${ha2}`);
  const user = ch.userhash ? hash(alg, `${cred.username}:${ch.realm}`) : cred.username;
  const parts = [
    `username=${quote(user)}`,
    `realm=${quote(ch.realm)}`,
    `nonce=${quote(ch.nonce)}`,
    `uri=${quote(uri)}`,
    `algorithm=${alg}`,
    `response=${quote(response)}`,
  ];
  if (ch.opaque !== undefined) parts.push(`opaque=${quote(ch.opaque)}`);
  if (qop) parts.push(`qop=${qop}`, `nc=${nc}`, `cnonce=${quote(cnonce)}`);
  if (ch.userhash) parts.push("userhash=true");
  return `Digest ${parts.join(", ")}`;
}

function newCnonce(): string {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * Answers challenges on one connection to a device: remembers the last challenge and counts
 * nonce uses, so requests after the first carry credentials up front (no extra round trip),
 * and a `stale` nonce is retried at once.
 */
export class ChallengeAnswerer {
  #credentials: DeviceCredentials;
  #challenge: Challenge | null = null;
  #nc = 0;

  /** Creates an answerer for one device connection. */
  constructor(credentials: DeviceCredentials) {
    this.#credentials = credentials;
  }

  /**
   * Takes the device's `WWW-Authenticate` values from a 401; returns false when there is nothing
   * we can answer, or when the same nonce was refused already (wrong credentials: give up).
   */
  challenged(headers: string | string[]): boolean {
    const next = chooseChallenge(parseChallenges(headers));
    if (!next) return false;
    const prev = this.#challenge;
    const sameNonce = prev?.scheme === "digest" && next.scheme === "digest" &&
      prev.nonce === next.nonce;
    const refusedBasic = prev?.scheme === "basic" && next.scheme === "basic";
    if ((sameNonce || refusedBasic) && !(next.scheme === "digest" && next.stale)) return false;
    this.#challenge = next;
    this.#nc = 0;
    return true;
  }

  /** The Authorization value for the next request, or null before any challenge. */
  authorize(method: string, uri: string, body?: Uint8Array): string | null {
    if (!this.#challenge) return null;
    return authorization({
      challenge: this.#challenge,
      method,
      uri,
      credentials: this.#credentials,
      nc: ++this.#nc,
      body,
    });
  }

  /** Forgets the challenge (after a refusal we will not retry). */
  reset(): void {
    this.#challenge = null;
    this.#nc = 0;
  }
}
