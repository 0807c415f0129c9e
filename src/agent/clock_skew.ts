/**
 * How far this machine's clock is from the cloud's, read from the `Date` header of the cloud's
 * answers. Site PCs on camera networks often have no time server they may reach, and a PC whose
 * clock drifted or was reset (a flat CMOS battery) sees every certificate the cloud issues as
 * "not valid yet" (the cloud backdates them five minutes, no more) or as expired early. The
 * technician saw "the certificate the cloud issued does not chain to the pinned CA" — a message
 * that points at an attacker, not at the clock. Enrollment now compares the clocks before it
 * sends the token: behind, it stops and says so; far ahead, it warns and goes on.
 * @module
 */
import { certificateClockFailure } from "../shared/reach_error.ts";

/** How far behind the cloud this clock may be: certificates are backdated 5 min (pki.ts). */
export const BEHIND_TOLERANCE_MS = 4 * 60_000;
/**
 * How far ahead it may be before a warning: certificates then look expired, and are renewed,
 * that much early — the agent still works, so this is not refused.
 */
export const AHEAD_TOLERANCE_MS = 24 * 3_600_000;

/** This clock minus the cloud's (ms; positive: ahead), or null when `date` is not a date. */
export function clockSkew(date: string | null, localNow: number): number | null {
  if (!date) return null;
  const cloud = Date.parse(date);
  return Number.isNaN(cloud) ? null : localNow - cloud;
}

/** A person's words for a duration: "3 min", "5 h", "2 days". */
export function humanSpan(ms: number): string {
  const s = Math.abs(ms) / 1000;
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/**
 * Why this clock cannot take the cloud's certificates (null when it can): behind by more than
 * the certificates' backdating. `skew` from {@linkcode clockSkew}, `localNow` this clock's time.
 */
export function skewProblem(skew: number | null, localNow: number): string | null {
  if (skew === null || skew >= -BEHIND_TOLERANCE_MS) return null;
  return `${skewWords(skew, localNow)}: certificates the cloud issues now would not be valid ` +
    "here yet. Set the clock right (turn on time synchronisation, NTP) and run the same command " +
    "again";
}

/** A warning for a clock more than a day ahead (null otherwise): it works, but renews early. */
export function skewWarning(skew: number | null, localNow: number): string | null {
  if (skew === null || skew <= AHEAD_TOLERANCE_MS) return null;
  return `warning: ${skewWords(skew, localNow)}: certificates will look expired, and be renewed, ` +
    "that much early here; set the clock right (turn on time synchronisation, NTP)";
}

function skewWords(skew: number, localNow: number): string {
  const here = new Date(localNow).toISOString().replace(/\.\d+Z$/, "Z");
  const cloud = new Date(localNow - skew).toISOString().replace(/\.\d+Z$/, "Z");
  return `this machine's clock is ${humanSpan(skew)} ${skew < 0 ? "behind" : "ahead of"} the ` +
    `cloud's (here ${here}, the cloud ${cloud})`;
}

/**
 * The words for a connection the cloud's certificate failed by this clock (rustls: "certificate
 * not valid yet: …", "certificate expired: …"), or null for any other failure.
 */
export function clockHint(reason: string, localNow: number): string | null {
  const here = new Date(localNow).toISOString().replace(/\.\d+Z$/, "Z");
  const failure = certificateClockFailure(reason);
  if (failure === "not_yet_valid") {
    return `the cloud's certificate is not valid yet by this machine's clock (here ${here}): the ` +
      "clock is behind; set it right (turn on time synchronisation, NTP) and the agent connects " +
      "by itself";
  }
  if (failure === "expired") {
    return `the cloud's certificate has expired by this machine's clock (here ${here}): if the ` +
      "clock is ahead, set it right (turn on time synchronisation, NTP) and the agent connects " +
      "by itself";
  }
  return null;
}
