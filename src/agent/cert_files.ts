/**
 * The agent's key and certificate on disk, renewal-safe. A renewed pair is written beside the
 * proven one (`agent.next.key` then `agent.next.pem`, each atomically: temp file, fsync, rename,
 * key 0600) and only replaces `agent.key`/`agent.pem` after it has connected once. Whatever point
 * a crash (or `kill -9`) interrupts — between the two files of a pair, or between promoting the
 * key and the certificate — the loader never pairs a key with a certificate that is not its
 * own: it tries every key with every certificate among the four files and takes the matching
 * pair issued last, so the agent starts on the old pair or the new one, never a mix.
 * @module
 */
import { join } from "node:path";
import { certFacts, keyMatchesCert } from "../shared/crypto/cert_reader.ts";
import { writeSecretFile } from "../shared/crypto/files.ts";

/** The proven pair's file names. */
export const CURRENT_FILES = { key: "agent.key", cert: "agent.pem" } as const;
/** The renewed pair's file names, until it has connected once. */
export const NEXT_FILES = { key: "agent.next.key", cert: "agent.next.pem" } as const;

/** A key and its certificate, and which files they came from. */
export interface CertPair {
  keyPem: string;
  certPem: string;
  /** "next" while the pair has not connected yet. */
  source: "current" | "next";
}

/** The test-only variable naming a point where the agent kills itself with SIGKILL. */
export const CRASH_ENV = "NC_TEST_CRASH_AT";

/** TEST-ONLY: SIGKILLs this process when `NC_TEST_CRASH_AT` names `point` (a crash test). */
export function crashPoint(point: string): void {
  if (Deno.env.get(CRASH_ENV) === point) Deno.kill(Deno.pid, "SIGKILL");
}

async function readOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * The matching key and certificate issued last among the current and the next files (not the one
 * that expires last: an old 825-day certificate outlives its 30-day successor), or null when no
 * key matches any certificate. With `proven`, the current pair is preferred when it
 * matches (the fallback after the renewed pair failed to connect).
 */
export async function loadPair(
  dir: string,
  opts: { proven?: boolean } = {},
): Promise<CertPair | null> {
  const keys: { pem: string; source: CertPair["source"] }[] = [];
  const certs: { pem: string; source: CertPair["source"] }[] = [];
  for (const [files, source] of [[CURRENT_FILES, "current"], [NEXT_FILES, "next"]] as const) {
    const key = await readOrNull(join(dir, files.key));
    const cert = await readOrNull(join(dir, files.cert));
    if (key) keys.push({ pem: key, source });
    if (cert) certs.push({ pem: cert, source });
  }
  if (opts.proven) {
    const key = keys.find((k) => k.source === "current");
    const cert = certs.find((c) => c.source === "current");
    if (key && cert && await keyMatchesCert(key.pem, cert.pem)) {
      return { keyPem: key.pem, certPem: cert.pem, source: "current" };
    }
  }
  let best: (CertPair & { issued: number }) | null = null;
  for (const cert of certs) {
    let issued: number;
    try {
      issued = certFacts(cert.pem).notBefore.getTime();
    } catch {
      continue;
    }
    if (best && best.issued >= issued) continue;
    for (const key of keys) {
      if (!await keyMatchesCert(key.pem, cert.pem)) continue;
      // A pair counts as proven only when both halves are in the current files.
      const source = key.source === "current" && cert.source === "current" ? "current" : "next";
      best = { keyPem: key.pem, certPem: cert.pem, source, issued };
      break;
    }
  }
  return best && { keyPem: best.keyPem, certPem: best.certPem, source: best.source };
}

/** Writes a renewed pair as the next pair (key first, each file atomically). */
export async function saveNextPair(dir: string, pair: Omit<CertPair, "source">): Promise<void> {
  await writeSecretFile(join(dir, NEXT_FILES.key), pair.keyPem);
  crashPoint("renew-after-key");
  await writeSecretFile(join(dir, NEXT_FILES.cert), pair.certPem);
  crashPoint("renew-after-cert");
}

/** Makes a pair that has connected the current one, then drops the next files. */
export async function promotePair(dir: string, pair: Omit<CertPair, "source">): Promise<void> {
  await writeSecretFile(join(dir, CURRENT_FILES.key), pair.keyPem);
  crashPoint("promote-after-key");
  await writeSecretFile(join(dir, CURRENT_FILES.cert), pair.certPem);
  crashPoint("promote-after-cert");
  await removeNextPair(dir);
}

/** Removes the next pair's files (a fresh enrollment makes them stale). */
export async function removeNextPair(dir: string): Promise<void> {
  for (const f of [NEXT_FILES.cert, NEXT_FILES.key]) {
    await Deno.remove(join(dir, f)).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
  }
}
