/**
 * What a per-site installer carries, checked before it is written into a script: the cloud URL,
 * the one-shot join token and the SHA-256 of the agent for each platform (null: the cloud has
 * no executable for it). The values are embedded in shell and cmd text, so each is held to a
 * character set that needs no quoting in either language — anything else is refused here
 * rather than escaped.
 * @module
 */
import { parseJoinToken } from "../../shared/crypto/token.ts";
import { allPlatforms, type Platform } from "../../shared/downloads.ts";

/** The inputs of an installer. */
export interface InstallerInput {
  /** The cloud's public URL (no trailing slash). */
  cloudUrl: string;
  /** The join token `enr_<secret>.<pin>` (one-shot). */
  token: string;
  /** When the token expires (ms since the epoch). */
  expiresAt: number;
  /** The site's name, shown in the header comment only. */
  siteName: string;
  /** SHA-256 (hex) of the agent executable per platform, null where there is none. */
  sha256: (p: Platform) => string | null;
}

/** The key of a platform in generated variable names, e.g. `LINUX_X86_64`. */
export function platformVar(p: Platform): string {
  return `${p.os}_${p.arch}`.toUpperCase();
}

/** A one-line, printable version of the site name for a comment (no quotes, no controls). */
export function commentSafe(text: string): string {
  return text.replace(/[^\p{L}\p{N} ._()\-]/gu, "?").slice(0, 80);
}

/** Throws unless the inputs are safe to embed in a script; returns the checked values. */
export function checkInstallerInput(i: InstallerInput): InstallerInput {
  if (!/^https?:\/\/[A-Za-z0-9.\-\[\]:]+(\/[A-Za-z0-9._~\/-]*)?$/.test(i.cloudUrl)) {
    throw new Error(`cloud URL unsuitable for an installer: ${i.cloudUrl}`);
  }
  const join = parseJoinToken(i.token);
  if (!join || !join.pin || !/^[A-Za-z0-9_.-]+$/.test(i.token)) {
    throw new Error("installer token is not a join token with a pin");
  }
  for (const p of allPlatforms()) {
    const h = i.sha256(p);
    if (h !== null && !/^[0-9a-f]{64}$/.test(h)) throw new Error("bad sha256");
  }
  return { ...i, cloudUrl: i.cloudUrl.replace(/\/+$/, "") };
}
