/**
 * ONVIF WS-Discovery messages, without an XML library: the SOAP 1.2 Probe for
 * `dn:NetworkVideoTransmitter` with a fresh `wsa:MessageID`, and a defensive reader of
 * ProbeMatches. Replies come from anything on the LAN, so the reader trusts nothing: it caps
 * the size, refuses DTDs and entity declarations (no entity bombs), matches only elements by
 * local name with bounded regexes, requires `RelatesTo` to be our MessageID, caps every list
 * and string, and returns null for anything it does not like — it never throws.
 * @module
 */
import { xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";

/** The IPv4 and IPv6 multicast groups and port of WS-Discovery. */
export const WS_DISCOVERY_V4 = { address: "239.255.255.250", port: 3702 } as const;
/** The IPv6 link-local group. */
export const WS_DISCOVERY_V6 = { address: "ff02::c", port: 3702 } as const;

/** Largest reply read (a ProbeMatches is a few KiB). */
export const MAX_REPLY_BYTES = 64 << 10;
const MAX_MATCHES = 16;
const MAX_XADDRS = 8;
const MAX_SCOPES = 64;
const MAX_TEXT = 200;

/** One device from a ProbeMatch. */
export interface ProbeMatch {
  /** The endpoint reference (usually urn:uuid:…), "" when absent. */
  endpoint: string;
  /** Service URLs (http/https only). */
  xaddrs: string[];
  manufacturer: string;
  model: string;
  name: string;
}

/** A fresh `urn:uuid:` message id. */
export function newMessageId(): string {
  return `urn:uuid:${crypto.randomUUID()}`;
}

/** The SOAP 1.2 Probe for ONVIF video transmitters. */
export function buildProbe(messageId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"` +
    ` xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"` +
    ` xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"` +
    ` xmlns:dn="http://www.onvif.org/ver10/network/wsdl">` +
    `<s:Header>` +
    `<a:Action s:mustUnderstand="1">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>` +
    `<a:MessageID>${messageId}</a:MessageID>` +
    `<a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>` +
    `<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>` +
    `</s:Header>` +
    `<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>` +
    `</s:Envelope>`;
}

/**
 * Printable, bounded text for display, and always well-formed UTF-16 (a lone surrogate, from a
 * reference or from the cut at MAX_TEXT, becomes U+FFFD): the result crosses the control stream,
 * which refuses text no UTF-8 encoder can write.
 */
function clean(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, MAX_TEXT).toWellFormed();
}

function decodeScopeValue(v: string): string {
  try {
    return clean(decodeURIComponent(v));
  } catch {
    return clean(v);
  }
}

/** Manufacturer, model and name from `onvif://www.onvif.org/<key>/<value>` scopes. */
export function parseScopes(scopes: string[]): Pick<ProbeMatch, "manufacturer" | "model" | "name"> {
  const out = { manufacturer: "", model: "", name: "" };
  for (const s of scopes.slice(0, MAX_SCOPES)) {
    const m = /^onvif:\/\/www\.onvif\.org\/([A-Za-z_]{1,32})\/(.{1,512})$/i.exec(s);
    if (!m) continue;
    const key = m[1].toLowerCase();
    const value = decodeScopeValue(m[2]);
    if ((key === "manufacturer" || key === "mfr") && !out.manufacturer) out.manufacturer = value;
    else if ((key === "hardware" || key === "model") && !out.model) out.model = value;
    else if (key === "name" && !out.name) out.name = value;
  }
  return out;
}

/**
 * Reads a ProbeMatches reply to our Probe `messageId`. Returns the matches, or null when the
 * datagram is not such a reply (too big, not XML, a DTD, another RelatesTo, no match).
 */
export function parseProbeMatches(data: Uint8Array, messageId: string): ProbeMatch[] | null {
  if (data.byteLength === 0 || data.byteLength > MAX_REPLY_BYTES) return null;
  let xml: string;
  try {
    xml = new TextDecoder("utf-8", { fatal: true }).decode(data);
  } catch {
    return null;
  }
  if (!/^\s*(?:<\?xml[^>]{0,200}\?>\s*)?</.test(xml)) return null;
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return null;
  const relates = xmlTexts(xml, "RelatesTo", 2, 256);
  if (relates.length !== 1 || relates[0] !== messageId) return null;
  const out: ProbeMatch[] = [];
  for (const body of xmlBlocks(xml, "ProbeMatch", MAX_MATCHES)) {
    const xaddrs = (xmlTexts(body, "XAddrs", 1)[0] ?? "").split(/\s+/)
      .filter((u) => /^https?:\/\/[^\s<>"]{1,500}$/i.test(u))
      .slice(0, MAX_XADDRS);
    const scopes = (xmlTexts(body, "Scopes", 1, 16384)[0] ?? "").split(/\s+/).filter(Boolean);
    const endpoint = clean(xmlTexts(body, "Address", 1, 512)[0] ?? "");
    if (!endpoint && xaddrs.length === 0) continue;
    out.push({ endpoint, xaddrs, ...parseScopes(scopes) });
  }
  return out.length ? out : null;
}
