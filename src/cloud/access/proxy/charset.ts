/**
 * The character encoding of a device page, found the way a browser finds it (byte order mark,
 * then the Content-Type charset, then a `<meta charset>` in the first 1024 bytes; UTF-8 when the
 * bytes are valid UTF-8, windows-1252 otherwise). The proxy decodes a page with it before the
 * rewrite and sends the result as UTF-8 with `charset=utf-8` in Content-Type, which outranks
 * anything inside the page: the browser then reads exactly the text the rewrite saw. Without
 * that, a page in UTF-16 would hide its tags from a UTF-8 scan and show them to the browser, and
 * every page in a legacy encoding (GB2312, Shift_JIS, windows-1252 — common on cameras) would
 * lose its non-ASCII characters. A body served with no type at all is sniffed the way a browser
 * sniffs it (`sniffsAsHtml`).
 * @module
 */

/** The `charset` parameter of a Content-Type value, lower-cased, or null. */
function charsetParam(contentType: string): string | null {
  const m = /;\s*charset\s*=\s*("?)([^";\s]+)\1/i.exec(contentType);
  return m ? m[2].toLowerCase() : null;
}

/** Whether `label` names an encoding this runtime decodes. */
function known(label: string): boolean {
  try {
    new TextDecoder(label);
    return true;
  } catch {
    return false;
  }
}

/** A charset named by a `<meta>` in the first 1024 bytes (ASCII-compatible pages only). */
function metaCharset(bytes: Uint8Array): string | null {
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, 1024));
  const m = /<meta\b[^>]*?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)/i.exec(head);
  return m ? m[1].toLowerCase() : null;
}

/** The encoding label to decode the page `bytes` served with `contentType`. */
export function pageEncoding(contentType: string, bytes: Uint8Array): string {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return "utf-8";
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return "utf-16be";
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return "utf-16le";
  const header = charsetParam(contentType);
  if (header && known(header)) return header;
  const meta = metaCharset(bytes);
  // A page cannot declare itself UTF-16 from inside (browsers read that as UTF-8).
  if (meta && known(meta)) return /^utf-16/.test(meta) ? "utf-8" : meta;
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return "utf-8";
  } catch {
    return "windows-1252";
  }
}

/** `contentType` with its charset set to UTF-8 (added when it had none). */
export function utf8ContentType(contentType: string): string {
  const base = contentType.replace(/;\s*charset\s*=\s*("?)[^";\s]*\1/gi, "").trim();
  return `${base || "text/html"}; charset=utf-8`;
}

const HTML_SIGNATURES = [
  "<!doctype html",
  "<html",
  "<head",
  "<script",
  "<iframe",
  "<h1",
  "<div",
  "<font",
  "<table",
  "<a",
  "<style",
  "<title",
  "<b",
  "<body",
  "<br",
  "<p",
  "<!--",
];

/**
 * Whether a browser would take `bytes`, served with no Content-Type, for HTML (the MIME sniffing
 * standard's HTML signatures: after leading whitespace, one of the tags above followed by a space
 * or `>`). The proxy rewrites such a page as HTML, and marks every other untyped body `nosniff`,
 * so no page reaches the browser unread by the rewrite.
 */
export function sniffsAsHtml(bytes: Uint8Array): boolean {
  let i = 0;
  while (i < bytes.length && [0x09, 0x0a, 0x0c, 0x0d, 0x20].includes(bytes[i])) i++;
  const head = new TextDecoder("latin1").decode(bytes.subarray(i, i + 16)).toLowerCase();
  return HTML_SIGNATURES.some((sig) => {
    if (!head.startsWith(sig)) return false;
    const next = head[sig.length];
    return next === " " || next === ">";
  });
}
