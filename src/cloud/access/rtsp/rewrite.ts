/**
 * The RTSP gateway's URL rewriting, both ways: the client addresses
 * `rtsp://{cloud}/{route}/{rest}` (route = `{handle}` or `{handle}.{token}`), the device sees
 * `rtsp://{host}:{port}/{rest}`. Request URIs, Content-Base, Content-Location, Location,
 * RTP-Info `url=` and absolute `a=control:` URLs in SDP bodies are mapped, so a player's
 * later SETUP/PLAY URIs (derived from Content-Base) come back through the same route and keep
 * the signed token. The `nc` query parameter (a token) never reaches the device.
 * @module
 */
import { TOKEN_PARAM } from "./signed_url.ts";
import { header, type RtspMessage, setHeader } from "./message.ts";
import { latin1, latin1Bytes } from "../../../shared/encoding.ts";

/** A client request URI taken apart. */
export interface ClientUri {
  /** host[:port] as the client wrote it. */
  authority: string;
  /** The first path segment (`{handle}` or `{handle}.{token}`), raw. */
  route: string;
  /** The path after the route: "" or starting with "/". */
  rest: string;
  /** The query without `nc` ("" or starting with "?"). */
  query: string;
  /** The `nc` token from the query, if any. */
  queryToken: string | null;
}

const CLIENT_URI = /^rtsp:\/\/([^/?#\s]+)\/([^/?#\s]+)([^?#\s]*)(\?[^#\s]*)?$/i;

/** Parses an absolute client request URI; null when it is not `rtsp://authority/route…`. */
export function parseClientUri(uri: string): ClientUri | null {
  const m = CLIENT_URI.exec(uri);
  if (!m) return null;
  let queryToken: string | null = null;
  const kept: string[] = [];
  for (const part of (m[4] ?? "").slice(1).split("&")) {
    if (!part) continue;
    if (part.startsWith(`${TOKEN_PARAM}=`)) queryToken = part.slice(TOKEN_PARAM.length + 1);
    else kept.push(part);
  }
  return {
    authority: m[1],
    route: m[2],
    rest: m[3],
    query: kept.length ? `?${kept.join("&")}` : "",
    queryToken,
  };
}

/** The two bases one gateway connection maps between. */
export class RouteMap {
  /** `rtsp://{authority}/{route}` as the client should use it. */
  readonly clientBase: string;
  /** `rtsp://{host}:{port}` of the device. */
  readonly deviceBase: string;
  readonly #route: string;

  /** Creates the map for a client authority and route, and a device host and port. */
  constructor(authority: string, route: string, host: string, port: number) {
    this.#route = route;
    this.clientBase = `rtsp://${authority}/${route}`;
    this.deviceBase = `rtsp://${host.includes(":") ? `[${host}]` : host}:${port}`;
  }

  /** A client URL (any authority, this connection's handle) → the device's; others unchanged. */
  toDevice(url: string): string {
    const c = parseClientUri(url);
    if (!c || c.route.split(".")[0] !== this.#route.split(".")[0]) return url;
    return `${this.deviceBase}${c.rest}${c.query}`;
  }

  /** An absolute rtsp:// URL from the device → the client's; relative ones unchanged. */
  toClient(url: string): string {
    const m = /^rtsps?:\/\/[^/?#\s]*(.*)$/i.exec(url.trim());
    return m ? `${this.clientBase}${m[1]}` : url;
  }
}

/** Rewrites absolute `a=control:` URLs of an SDP body; other lines are kept byte for byte. */
export function rewriteSdp(body: Uint8Array, map: (url: string) => string): Uint8Array {
  // Latin-1 both ways keeps every other byte as it was (UTF-8 session names included).
  const text = latin1(body);
  const out = text.replace(
    /^(a=control:)(rtsps?:\/\/[^\r\n]*)$/gim,
    (_, k: string, url: string) => `${k}${map(url)}`,
  );
  if (out === text) return body;
  return latin1Bytes(out);
}

/** Rewrites the `url=` of each RTP-Info entry. */
export function rewriteRtpInfo(value: string, map: (url: string) => string): string {
  return value.replace(
    /(^|[,;]\s*)url=("?)([^;,"]+)\2/gi,
    (_, p, q, u) => `${p}url=${q}${map(u)}${q}`,
  );
}

const URL_HEADERS = ["Content-Base", "Content-Location", "Location"];

/** Applies `map` to every URL a message carries (headers and SDP body). */
export function rewriteMessage(m: RtspMessage, map: (url: string) => string): void {
  for (const h of URL_HEADERS) {
    const v = header(m, h);
    if (v !== null) setHeader(m, h, map(v));
  }
  const info = header(m, "RTP-Info");
  if (info !== null) setHeader(m, "RTP-Info", rewriteRtpInfo(info, map));
  const type = (header(m, "Content-Type") ?? "").toLowerCase();
  if (m.body.length && type.startsWith("application/sdp")) m.body = rewriteSdp(m.body, map);
}
