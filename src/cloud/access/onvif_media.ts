/**
 * Asking a camera, over ONVIF, where its video and its picture are: the stream path for its RTSP
 * URL (`GetStreamUri`) and its snapshot URL (`GetSnapshotUri`), for the first media profile
 * (cameras list their main stream first), and the stream path of the second profile (their
 * sub-stream, which the live grid and the thumbnails play: a grid of main streams would fill a
 * site's uplink). An operator should not have to know that Hikvision says
 * `/Streaming/Channels/101` and Dahua `/cam/realmonitor?channel=1&subtype=0`: the camera knows.
 *
 * The questions go to the camera's web port through the tunnel (device_http.ts): the clock and
 * the media service's address from the device service (`GetSystemDateAndTime`,
 * `GetCapabilities`, which cameras answer without credentials), then `GetProfiles` and the two
 * URIs from the media service, signed with a WS-Security UsernameToken (the password digest over
 * a fresh nonce and the camera's own time, since a camera whose clock is off refuses a token
 * dated by ours) from the cloud-held credentials, and an HTTP Digest challenge answered too.
 * Only the path and query of each URI are kept: the host in it is the camera's LAN address,
 * which the cloud never dials (the tunnel does, by the device's allowlisted address).
 * @module
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { AppError } from "../../shared/errors.ts";
import { escapeXml, xmlAttributes, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import type { DeviceCredentials } from "./device_auth.ts";
import type { DeviceHttp } from "./device_http.ts";

/** Where the device service is on every ONVIF camera. */
export const DEVICE_SERVICE = "/onvif/device_service";
/** The media service when the camera does not say (the common default). */
export const MEDIA_SERVICE = "/onvif/media_service";
/** Largest SOAP answer read. */
const MAX_SOAP_BYTES = 256 << 10;

/** What the camera said. */
export interface MediaPaths {
  /** The token of the profile asked about. */
  profile: string;
  /** Path and query of its RTSP stream URI, or null when it gave none. */
  streamPath: string | null;
  /**
   * Path and query of the second profile's RTSP stream URI (the sub-stream), or null when the
   * camera has one profile, gave no URI for it, or gave the main one again.
   */
  subStreamPath: string | null;
  /** Path and query of its snapshot URI, or null when it gave none. */
  snapshotPath: string | null;
  /** The port its snapshot URI names (or its scheme's: 80, 443), or null when it gave none. */
  snapshotPort: number | null;
}

/** Why the camera could not be asked; the message is for the operator. */
export class OnvifError extends Error {
  /** True when the port has no ONVIF service at all (another port of the camera may). */
  readonly noService: boolean;
  /** Creates the error. */
  constructor(message: string, noService = false) {
    super(message);
    this.name = "OnvifError";
    this.noService = noService;
  }
}

/**
 * The WS-Security header for `creds` at `created` (the camera's time, ISO 8601 UTC): the
 * password digest is Base64(SHA-1(nonce + created + password)) as the UsernameToken profile says.
 */
export function wsSecurityHeader(
  creds: DeviceCredentials,
  created: string,
  nonce: Uint8Array = crypto.getRandomValues(new Uint8Array(16)),
): string {
  const digest = createHash("sha1").update(nonce).update(created).update(creds.password).digest();
  const wss = "http://docs.oasis-open.org/wss/2004/01";
  return `<s:Header><wsse:Security s:mustUnderstand="1"` +
    ` xmlns:wsse="${wss}/oasis-200401-wss-wssecurity-secext-1.0.xsd"` +
    ` xmlns:wsu="${wss}/oasis-200401-wss-wssecurity-utility-1.0.xsd"><wsse:UsernameToken>` +
    `<wsse:Username>${escapeXml(creds.username)}</wsse:Username>` +
    `<wsse:Password Type="${wss}/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">` +
    `${digest.toString("base64")}</wsse:Password>` +
    `<wsse:Nonce EncodingType="${wss}/oasis-200401-wss-soap-message-security-1.0#Base64Binary">` +
    `${Buffer.from(nonce).toString("base64")}</wsse:Nonce><wsu:Created>${created}</wsu:Created>` +
    `</wsse:UsernameToken></wsse:Security></s:Header>`;
}

/** A SOAP 1.2 envelope around `body`, with `header` (may be ""). */
function envelope(header: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>` +
    `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"` +
    ` xmlns:tds="http://www.onvif.org/ver10/device/wsdl"` +
    ` xmlns:trt="http://www.onvif.org/ver10/media/wsdl"` +
    ` xmlns:tt="http://www.onvif.org/ver10/schema">${header}<s:Body>${body}</s:Body></s:Envelope>`;
}

/** The path and query of a URI the camera gave (its host is its LAN address: not kept). */
export function pathOfUri(uri: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*(\/[^\s#]*)?(\?[^\s#]*)?$/i.exec(uri.trim());
  if (!m) return null;
  const path = (m[1] ?? "/") + (m[2] ?? "");
  return /^\/[\x21-\x7e]{0,1023}$/.test(path) ? path : null;
}

/**
 * The port a camera's `http(s)://` URI names, else its scheme's default (80, 443); null for
 * another scheme or a URI that is not one. The host in it is never used (see the module).
 */
export function portOfUri(uri: string): number | null {
  const m = /^(https?):\/\/(?:[^/?#\s@]*@)?(?:\[[^\]]*\]|[^/?#\s:]*)(?::(\d{1,5}))?(?:[/?]|$)/i
    .exec(uri.trim());
  if (!m) return null;
  const port = m[2] ? Number(m[2]) : m[1].toLowerCase() === "https" ? 443 : 80;
  return port >= 1 && port <= 65535 ? port : null;
}

/** The camera's UTC time from a GetSystemDateAndTime answer, or null. */
export function cameraTime(xml: string): number | null {
  const utc = xmlBlocks(xml, "UTCDateTime", 1)[0];
  if (!utc) return null;
  const n = (name: string, inside: string) => Number(xmlTexts(inside, name, 1, 8)[0]);
  const date = xmlBlocks(utc, "Date", 1)[0] ?? "";
  const time = xmlBlocks(utc, "Time", 1)[0] ?? "";
  const t = Date.UTC(
    n("Year", date),
    n("Month", date) - 1,
    n("Day", date),
    n("Hour", time),
    n("Minute", time),
    n("Second", time),
  );
  return Number.isFinite(t) ? t : null;
}

/** One ONVIF conversation with a camera, over `http` (its web port). */
export class OnvifMedia {
  readonly #http: DeviceHttp;
  readonly #now: () => number;
  /** The camera's clock minus ours, once known. */
  #skew = 0;

  /** A conversation over `http`; `now` is the cloud's clock. */
  constructor(http: DeviceHttp, now: () => number) {
    this.#http = http;
    this.#now = now;
  }

  /** Posts one SOAP call; the answer's XML, or OnvifError with the camera's fault reason. */
  async #call(path: string, body: string, signed: boolean): Promise<string> {
    let header = "";
    const creds = signed ? await this.#http.credentials() : null;
    if (creds) {
      const created = new Date(this.#now() + this.#skew).toISOString().replace(/\.\d+Z$/, "Z");
      header = wsSecurityHeader(creds, created);
    }
    const action = /^<(\w+:\w+)/.exec(body)?.[1] ?? "call";
    const answer = await this.#http.request("POST", path, {
      headers: [["Content-Type", "application/soap+xml; charset=utf-8"]],
      body: new TextEncoder().encode(envelope(header, body)),
      maxBytes: MAX_SOAP_BYTES,
      tooLarge: `the camera's ONVIF answer to ${action} is larger than 256 KiB`,
    });
    let xml: string;
    try {
      xml = new TextDecoder("utf-8", { fatal: true }).decode(answer.body);
    } catch {
      throw new OnvifError(`the camera's ONVIF answer to ${action} is not UTF-8 text`);
    }
    if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
      throw new OnvifError(`the camera's ONVIF answer to ${action} declares a DTD`);
    }
    const reason = answer.status === 200
      ? ""
      : xmlTexts(xml, "Text", 1, 300)[0] ?? xmlTexts(xml, "Value", 2, 200).join(" ");
    const refused = answer.status === 401 ||
      (answer.status !== 200 && /NotAuthorized|not authori[sz]ed/i.test(xml.slice(0, 8192)));
    if (refused) {
      throw new OnvifError(
        creds
          ? `the camera refused the credentials the cloud holds for ${action}` +
            `${reason ? ` (${reason})` : ""}: check the user name and password, and that ` +
            `the camera has that user for ONVIF (many keep ONVIF users apart from web users)`
          : `the camera wants credentials for ${action}: save its user name and password ` +
            `with the device's Credentials button`,
      );
    }
    if (answer.status !== 200) {
      throw new OnvifError(
        answer.status === 404
          ? `the camera has no ONVIF service at ${path} (HTTP 404)`
          : `the camera refused ${action} (HTTP ${answer.status}${reason ? `: ${reason}` : ""})`,
        answer.status === 404 && path === DEVICE_SERVICE,
      );
    }
    return xml;
  }

  /**
   * The paths of the first media profile (its RTSP stream path and its snapshot path) and the
   * second profile's stream path. Throws OnvifError when the camera does not speak ONVIF or
   * refuses.
   */
  async mediaPaths(): Promise<MediaPaths> {
    // The camera's clock first (unsigned, as the ONVIF core spec allows), so that the token is
    // dated by it; a camera that does not answer keeps ours.
    try {
      const t = cameraTime(await this.#call(DEVICE_SERVICE, "<tds:GetSystemDateAndTime/>", false));
      if (t !== null) this.#skew = t - this.#now();
    } catch (e) {
      if (!(e instanceof OnvifError) || e.noService) throw e; // no ONVIF on this port at all
    }
    let media = MEDIA_SERVICE;
    try {
      const caps = await this.#call(
        DEVICE_SERVICE,
        "<tds:GetCapabilities><tds:Category>Media</tds:Category></tds:GetCapabilities>",
        true,
      );
      const xaddr = xmlTexts(xmlBlocks(caps, "Media", 1)[0] ?? "", "XAddr", 1, 1024)[0];
      media = (xaddr && pathOfUri(xaddr)?.replace(/\?.*$/, "")) || MEDIA_SERVICE;
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
    }
    const profiles = await this.#call(media, "<trt:GetProfiles/>", true);
    const [profile, second] = xmlAttributes(profiles, "Profiles", "token", 2);
    if (!profile) throw new OnvifError("the camera lists no media profile over ONVIF");
    const token = (p: string) => `<trt:ProfileToken>${escapeXml(p)}</trt:ProfileToken>`;
    const answer = (xml: string) =>
      this.#call(media, xml, true).catch((e) => e instanceof OnvifError ? "" : Promise.reject(e));
    const streamUri = (p: string) =>
      answer(
        `<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport>` +
          `<tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>${
            token(p)
          }</trt:GetStreamUri>`,
      );
    const rawUri = (xml: string) =>
      xmlTexts(xmlBlocks(xml, "MediaUri", 1)[0] ?? xml, "Uri", 1, 2048)[0];
    const uri = (xml: string) => {
      const u = rawUri(xml);
      return u ? pathOfUri(u) : null;
    };
    const streamPath = uri(await streamUri(profile));
    const snapshot = await answer(`<trt:GetSnapshotUri>${token(profile)}</trt:GetSnapshotUri>`);
    const snapshotPath = uri(snapshot);
    const snapshotPort = snapshotPath ? portOfUri(rawUri(snapshot) ?? "") : null;
    const sub = second && second !== profile ? uri(await streamUri(second)) : null;
    return {
      profile,
      streamPath,
      snapshotPath,
      snapshotPort,
      subStreamPath: sub === streamPath ? null : sub,
    };
  }
}

/**
 * The paths the camera tells over the first of `targets` (its web ports, device_http.ts
 * `webTargets`) that has an ONVIF service; `http` makes the requests to one of them.
 */
export async function askOverPorts<T>(
  targets: T[],
  http: (target: T) => DeviceHttp,
  now: () => number,
): Promise<MediaPaths> {
  for (let i = 0;; i++) {
    try {
      return await new OnvifMedia(http(targets[i]), now).mediaPaths();
    } catch (e) {
      if (!(e instanceof OnvifError && e.noService && i + 1 < targets.length)) throw e;
    }
  }
}

/** An OnvifError as the API's answer: 502, the camera's words. */
export function onvifRefusal(e: unknown, what: string): never {
  if (e instanceof OnvifError) {
    throw new AppError(
      "camera_refused",
      `the camera did not tell ${what} over ONVIF: ${e.message}`,
    );
  }
  throw e;
}
