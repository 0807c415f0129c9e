/**
 * Reading small SOAP answers without an XML library: what a camera says over WS-Discovery (the
 * agent) and ONVIF (the cloud) is a few elements of plain text, and the sender is a device on
 * someone's LAN, so nothing here trusts it: elements are matched by local name (any prefix) with
 * bounded regular expressions, every list and text is capped, and the five predefined entities
 * and numeric references are the only ones decoded (a reader refuses DTDs before calling these).
 * @module
 */

/** All texts of elements with local name `name` (any prefix), at most `max`, each bounded. */
export function xmlTexts(xml: string, name: string, max: number, maxLen = 4096): string[] {
  const re = new RegExp(
    `<(?:[A-Za-z_][\\w.-]{0,40}:)?${name}(?:\\s[^<>]{0,1024})?>([^<]{0,${maxLen}})</(?:[A-Za-z_][\\w.-]{0,40}:)?${name}\\s*>`,
    "g",
  );
  const out: string[] = [];
  for (const m of xml.matchAll(re)) {
    out.push(decodeXmlEntities(m[1].trim()));
    if (out.length >= max) break;
  }
  return out;
}

/** The longest element body {@link xmlBlocks} returns. */
export const XML_BLOCK_MAX = 16_384;
/** Opening tags without their closing tag after which {@link xmlBlocks} reads no further. */
export const XML_UNCLOSED_MAX = 64;

/**
 * Bodies of elements with local name `name` (any prefix; the closing tag has the opening tag's),
 * at most `max`, each at most {@link XML_BLOCK_MAX} long: the body of an opening tag ends at the
 * first closing tag after it. Self-closing tags have no body. The work is linear in the input:
 * a lazy regular expression over the body (as this was) tried each opening tag against the next
 * 16 KiB, so an answer of 256 KiB of opening tags held the event loop 1.4 s per call — a hostile
 * camera's way to stall a cloud node (its motion alerts poll again and again) or a LAN device's
 * to stall an agent. After {@link XML_UNCLOSED_MAX} opening tags without their close, the rest is
 * not read: no camera answers so.
 */
export function xmlBlocks(xml: string, name: string, max: number): string[] {
  const open = new RegExp(
    `<((?:[A-Za-z_][\\w.-]{0,40}:)?)${name}(?:\\s[^<>]{0,1024})?(?<!/)>`,
    "g",
  );
  const out: string[] = [];
  let unclosed = 0;
  for (let m; out.length < max && (m = open.exec(xml)) !== null;) {
    const body = open.lastIndex;
    const close = closingTag(xml, `</${m[1]}${name}`, body);
    if (!close) {
      if (++unclosed >= XML_UNCLOSED_MAX) break;
      open.lastIndex = m.index + 1;
      continue;
    }
    out.push(xml.slice(body, close.start));
    open.lastIndex = close.end;
  }
  return out;
}

/**
 * Where the first closing tag `tag` (`</prefix:Name`, then optional white space and `>`) starts
 * and ends at or after `from`, starting at most {@link XML_BLOCK_MAX} after it; null when none.
 */
function closingTag(xml: string, tag: string, from: number): { start: number; end: number } | null {
  for (let at = from;;) {
    const i = xml.indexOf(tag, at);
    if (i < 0 || i - from > XML_BLOCK_MAX) return null;
    let j = i + tag.length;
    while (j < xml.length && /\s/.test(xml[j])) j++;
    if (xml[j] === ">") return { start: i, end: j + 1 };
    at = i + 1;
  }
}

/**
 * The values of attribute `attr` on the opening tags of elements with local name `name` (any
 * prefix), at most `max`, each bounded (`<trt:Profiles token="Profile_1">` → `Profile_1`).
 */
export function xmlAttributes(
  xml: string,
  name: string,
  attr: string,
  max: number,
  maxLen = 256,
): string[] {
  const tag = new RegExp(`<(?:[A-Za-z_][\\w.-]{0,40}:)?${name}(\\s[^<>]{0,1024})?/?>`, "g");
  const value = new RegExp(`\\s${attr}\\s*=\\s*(?:"([^"<]{0,${maxLen}})"|'([^'<]{0,${maxLen}})')`);
  const out: string[] = [];
  for (const m of xml.matchAll(tag)) {
    const v = value.exec(m[1] ?? "");
    if (!v) continue;
    out.push(decodeXmlEntities(v[1] ?? v[2]));
    if (out.length >= max) break;
  }
  return out;
}

/**
 * The attributes `attrs` of each opening tag of elements with local name `name` (any prefix), at
 * most `max` tags, each value bounded; an attribute a tag lacks is absent from its record
 * (`<tt:SimpleItem Name="IsMotion" Value="true"/>` → `{Name: "IsMotion", Value: "true"}`).
 */
export function xmlTags(
  xml: string,
  name: string,
  attrs: string[],
  max: number,
  maxLen = 256,
): Record<string, string>[] {
  const tag = new RegExp(`<(?:[A-Za-z_][\\w.-]{0,40}:)?${name}(\\s[^<>]{0,1024})?/?>`, "g");
  const out: Record<string, string>[] = [];
  for (const m of xml.matchAll(tag)) {
    const rec: Record<string, string> = {};
    for (const attr of attrs) {
      const v = new RegExp(
        `\\s${attr}\\s*=\\s*(?:"([^"<]{0,${maxLen}})"|'([^'<]{0,${maxLen}})')`,
      ).exec(m[1] ?? "");
      if (v) rec[attr] = decodeXmlEntities(v[1] ?? v[2]);
    }
    out.push(rec);
    if (out.length >= max) break;
  }
  return out;
}

/**
 * The five predefined XML entities and numeric references; anything else stays as is. A reference
 * to no character (0, past U+10FFFF, or a UTF-16 surrogate, which XML forbids) is dropped: a lone
 * surrogate is a string no UTF-8 encoder can write, and the control stream's decoder refuses it.
 */
export function decodeXmlEntities(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|amp|lt|gt|quot|apos);/g, (_m, e: string) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      const surrogate = cp >= 0xd800 && cp <= 0xdfff;
      return cp > 0 && cp <= 0x10ffff && !surrogate ? String.fromCodePoint(cp) : "";
    }
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[e as "amp"];
  });
}

/** `text` escaped for XML element content and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
