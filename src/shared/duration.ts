/**
 * Human durations in configuration ("90s", "15m", "24h", "30d") parsed to milliseconds, with a
 * zod type so a bad value fails at start naming the field.
 * @module
 */
import { z } from "zod";

const UNITS: Record<string, number> = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/** Parses "250ms", "90s", "15m", "24h", "30d" (or a bare number of seconds); null if malformed. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return null;
  return Math.round(Number(m[1]) * UNITS[m[2] ?? "s"]);
}

/** zod: a duration string → milliseconds. */
export const duration = z.string().transform((s, ctx) => {
  const ms = parseDuration(s);
  if (ms === null || ms <= 0) {
    ctx.addIssue({
      code: "custom",
      message: `expected a duration like 90s, 15m, 24h or 30d, got "${s}"`,
    });
    return z.NEVER;
  }
  return ms;
});

/** Milliseconds as the largest unit that divides them exactly ("24h", "90s", "250ms"). */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) {
    if (ms > 0 && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
