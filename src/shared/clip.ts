/**
 * Bounding what an untrusted peer controls before it is stored or logged: a hostname in a
 * Hello, a path, a header, a handle, an error message quoting any of them. Every such string is
 * cut to {@link CLIP_CHARS} characters with a marker saying how much was dropped, so one request
 * can add only a bounded number of bytes to the audit log, the database or the log stream; a text
 * shown to people as a name (a device certificate's subject) is also made {@link printable}.
 * @module
 */

/** The longest untrusted string kept whole. */
export const CLIP_CHARS = 256;

/** `s` cut to `max` characters, with a marker naming the count cut, when it is longer. */
export function clip(s: string, max = CLIP_CHARS): string {
  if (s.length <= max) return s;
  return `${s.slice(0, max)}…[${s.length - max} more chars]`;
}

/**
 * Control characters (C0, DEL, C1), the marks that reorder text on screen (bidirectional
 * embeddings, overrides and isolates) and lone surrogates replaced by U+FFFD: a peer's text that
 * shows as what it holds, where it is shown, without moving or hiding what is around it.
 */
export function printable(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "\ufffd")
    .toWellFormed();
}

/**
 * A copy of a JSON-like value with every string clipped, arrays cut to `max` items and nesting
 * cut at depth 6; objects of other shapes (Error, Date) pass through as they are.
 */
export function clipDeep(v: unknown, max = CLIP_CHARS, depth = 0): unknown {
  if (typeof v === "string") return clip(v, max);
  if (depth > 6 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    const items = v.slice(0, max).map((x) => clipDeep(x, max, depth + 1));
    return v.length > max ? [...items, `…[${v.length - max} more items]`] : items;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[clip(k, max)] = clipDeep(x, max, depth + 1);
  return out;
}
