/**
 * Passwords are kept only as scrypt output (memory-hard, from node:crypto) in a self-describing
 * string `scrypt$N$r$p$salt$hash`, so the cost can be raised later without breaking old rows.
 * @module
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";
import { Buffer } from "node:buffer";

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;
/** A stored hash: `scrypt$N$r$p$salt$hash`. */
const STORED = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

function derive(pw: string, salt: Buffer, n: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      pw.normalize("NFKC"),
      salt,
      KEYLEN,
      { N: n, r, p, maxmem: 64 << 20 },
      (e, k) => e ? reject(e) : resolve(k),
    )
  );
}

/** Hashes a password for storage. */
export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(pw, salt, N, R, P);
  return `scrypt$${N}$${R}$${P}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/** Checks a password against a stored hash in constant time; false for "" (no password set). */
export async function verifyPassword(pw: string, stored: string): Promise<boolean> {
  const m = STORED.exec(stored);
  if (!m) return false;
  const want = Buffer.from(m[5], "base64");
  const got = await derive(
    pw,
    Buffer.from(m[4], "base64"),
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
  );
  return got.byteLength === want.byteLength && timingSafeEqual(got, want);
}

let decoy: Promise<string> | null = null;

/**
 * Makes the decoy hash of {@linkcode checkSignInPassword} ahead of the first sign-in (the sign-in
 * calls it when built), so not even the first refusal of a process takes longer than the rest.
 */
export function prepareSignInDecoy(): Promise<string> {
  return decoy ??= hashPassword(randomBytes(32).toString("base64")).catch((e) => {
    decoy = null; // made again at the next sign-in
    throw e;
  });
}

/**
 * Checks a sign-in's password against `stored`, or — when there is no usable hash (no such user,
 * a disabled one, an invitation not taken up) — against a decoy hash no password matches, so a
 * refusal costs the same time either way and its timing does not tell a guesser which addresses
 * have an account. Always false without a usable hash.
 */
export async function checkSignInPassword(pw: string, stored: string | null): Promise<boolean> {
  if (stored && STORED.test(stored)) return await verifyPassword(pw, stored);
  // Made once per process, with the same cost parameters as every stored hash.
  await verifyPassword(pw, await prepareSignInDecoy());
  return false;
}

/** The shortest sign-in password accepted (the CLI, invites and resets alike). */
export const MIN_PASSWORD_LENGTH = 10;
