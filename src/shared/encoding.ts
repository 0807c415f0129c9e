/**
 * Byte/text encodings used across roles (base64url, hex) without JSR's @std/encoding.
 * @module
 */

/** Encodes bytes as unpadded URL-safe base64. */
export function encodeBase64Url(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes unpadded or padded URL-safe base64; throws on invalid input. */
export function decodeBase64Url(text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new TypeError("invalid base64url");
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/** Encodes bytes as lowercase hex. */
export function encodeHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Decodes bytes as Latin-1 (ISO-8859-1), one character per byte: how node:http reads a head.
 * Built here rather than with `TextDecoder("latin1")`, which is windows-1252 by the WHATWG
 * standard (0x80–0x9F become other characters) and a call into the runtime each time.
 */
export function latin1(bytes: Uint8Array): string {
  if (bytes.byteLength <= 4096) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let out = "";
  for (let i = 0; i < bytes.byteLength; i += 4096) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096) as unknown as number[]);
  }
  return out;
}

/** Encodes text one byte per character (the inverse of `latin1`; characters above 0xFF wrap). */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

const utf8Encoder = new TextEncoder();

/**
 * Encodes text as UTF-8, building ASCII-only text (an HTTP head, nearly always) here rather than
 * calling into the runtime: the same bytes, at a fraction of the cost for a few hundred bytes.
 */
export function utf8(text: string): Uint8Array {
  const n = text.length;
  if (n > 4096) return utf8Encoder.encode(text);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return utf8Encoder.encode(text);
    out[i] = c;
  }
  return out;
}

/** `s` safe as HTML text or a quoted attribute value (`& < > " '` as character references). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
