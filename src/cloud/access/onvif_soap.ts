/**
 * Speaking SOAP to a camera's ONVIF services through its tunnel (device_http.ts): the envelope,
 * the WS-Security UsernameToken from the cloud-held credentials (the password digest over a fresh
 * nonce and the camera's own time, since a camera whose clock is off refuses a token dated by
 * ours), the camera's clock (`GetSystemDateAndTime`, unsigned), where a service is
 * (`GetCapabilities`), and the camera's refusals in words an operator can act on. The media
 * questions (onvif_media.ts), the event subscriptions (onvif_events.ts) and pan/tilt/zoom
 * (onvif_ptz.ts) and focus (onvif_focus.ts) are built on it.
 * @module
 */
import { createHash } from "node:crypto";
import { Buffer } from "node:buffer";
import { AppError } from "../../shared/errors.ts";
import { escapeXml, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import type { DeviceCredentials } from "./device_auth.ts";
import type { DeviceHttp } from "./device_http.ts";

/** Where the device service is on every ONVIF camera. */
export const DEVICE_SERVICE = "/onvif/device_service";

/** The namespace each service is listed under in a `GetServices` answer. */
export const SERVICE_NAMESPACES = {
  Media: "http://www.onvif.org/ver10/media/wsdl",
  Events: "http://www.onvif.org/ver10/events/wsdl",
  PTZ: "http://www.onvif.org/ver20/ptz/wsdl",
  Imaging: "http://www.onvif.org/ver20/imaging/wsdl",
  Recording: "http://www.onvif.org/ver10/recording/wsdl",
  Replay: "http://www.onvif.org/ver10/replay/wsdl",
  Search: "http://www.onvif.org/ver10/search/wsdl",
} as const;
/** Largest SOAP answer read. */
const MAX_SOAP_BYTES = 256 << 10;
/** How long one call may take by default (a long poll gives its own). */
const CALL_DEADLINE_MS = 20_000;

/** Why the camera could not be asked; the message is for the operator. */
export class OnvifError extends Error {
  /** True when the port has no ONVIF service at all (another port of the camera may). */
  readonly noService: boolean;
  /**
   * True when the camera refused the call's credentials (it did nothing): held ones that are
   * wrong, or a token dated by a clock the camera no longer keeps.
   */
  readonly unauthorized: boolean;
  /** Creates the error. */
  constructor(message: string, noService = false, unauthorized = false) {
    super(message);
    this.name = "OnvifError";
    this.noService = noService;
    this.unauthorized = unauthorized;
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
    ` xmlns:tptz="http://www.onvif.org/ver20/ptz/wsdl"` +
    ` xmlns:timg="http://www.onvif.org/ver20/imaging/wsdl"` +
    ` xmlns:trc="http://www.onvif.org/ver10/recording/wsdl"` +
    ` xmlns:trp="http://www.onvif.org/ver10/replay/wsdl"` +
    ` xmlns:tse="http://www.onvif.org/ver10/search/wsdl"` +
    ` xmlns:tev="http://www.onvif.org/ver10/events/wsdl"` +
    ` xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2"` +
    ` xmlns:wsa="http://www.w3.org/2005/08/addressing"` +
    ` xmlns:tt="http://www.onvif.org/ver10/schema">${header}<s:Body>${body}</s:Body></s:Envelope>`;
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

/** The path and query of a URI the camera gave (its host is its LAN address: not kept). */
export function pathOfUri(uri: string): string | null {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#\s]*(\/[^\s#]*)?(\?[^\s#]*)?$/i.exec(uri.trim());
  if (!m) return null;
  const path = (m[1] ?? "/") + (m[2] ?? "");
  return /^\/[\x21-\x7e]{0,1023}$/.test(path) ? path : null;
}

/** SOAP calls to one camera over `http` (its web port), dated by the camera's clock once known. */
export class OnvifSoap {
  readonly #http: DeviceHttp;
  readonly #now: () => number;
  /** The camera's clock minus ours, once known. */
  #skew = 0;

  /** Calls over `http`; `now` is the cloud's clock; `skew`, the camera's known from before. */
  constructor(http: DeviceHttp, now: () => number, skew = 0) {
    this.#http = http;
    this.#now = now;
    this.#skew = skew;
  }

  /** The camera's clock minus ours (0 until syncClock read it). */
  get skew(): number {
    return this.#skew;
  }

  /**
   * Reads the camera's clock (unsigned, as the ONVIF core spec allows), so that tokens are dated
   * by it; a camera that does not answer keeps ours. Throws OnvifError when the port has no ONVIF
   * service at all.
   */
  async syncClock(): Promise<void> {
    try {
      const t = cameraTime(await this.call(DEVICE_SERVICE, "<tds:GetSystemDateAndTime/>", false));
      if (t !== null) this.#skew = t - this.#now();
    } catch (e) {
      if (!(e instanceof OnvifError) || e.noService) throw e;
    }
  }

  /**
   * The path of the camera's `category` service (`Media`, `Events`, `PTZ`, `Imaging`, …) as its capabilities
   * give it; where they do not (some cameras list only the older categories there), as its
   * services do (`GetServices`, by the service's namespace); else `fallback`.
   */
  async service(category: keyof typeof SERVICE_NAMESPACES, fallback: string): Promise<string> {
    const path = (xaddr: string | undefined) =>
      (xaddr && pathOfUri(xaddr)?.replace(/\?.*$/, "")) || null;
    try {
      const caps = await this.call(
        DEVICE_SERVICE,
        `<tds:GetCapabilities><tds:Category>${
          escapeXml(category)
        }</tds:Category></tds:GetCapabilities>`,
        true,
      );
      const found = path(xmlTexts(xmlBlocks(caps, category, 1)[0] ?? "", "XAddr", 1, 1024)[0]);
      if (found) return found;
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
    }
    try {
      const services = await this.call(
        DEVICE_SERVICE,
        "<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
        true,
      );
      for (const block of xmlBlocks(services, "Service", 64)) {
        if (xmlTexts(block, "Namespace", 1, 256)[0]?.trim() !== SERVICE_NAMESPACES[category]) {
          continue;
        }
        const found = path(xmlTexts(block, "XAddr", 1, 1024)[0]?.trim());
        if (found) return found;
      }
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
    }
    return fallback;
  }

  /**
   * Posts one SOAP call; the answer's XML, or OnvifError with the camera's fault reason.
   * `addressing` adds the WS-Addressing `Action` and `To` that a subscription's calls carry
   * (many cameras route them by these). A camera that has not answered whole within
   * `deadlineMs` (default 20 s) fails the call, its connection closed.
   */
  async call(
    path: string,
    body: string,
    signed: boolean,
    addressing?: { action: string; to: string },
    deadlineMs = CALL_DEADLINE_MS,
  ): Promise<string> {
    let header = "";
    const creds = signed ? await this.#http.credentials() : null;
    if (creds) {
      const created = new Date(this.#now() + this.#skew).toISOString().replace(/\.\d+Z$/, "Z");
      header = wsSecurityHeader(creds, created);
    }
    if (addressing) {
      const wsa = `<wsa:Action>${escapeXml(addressing.action)}</wsa:Action>` +
        `<wsa:To>${escapeXml(addressing.to)}</wsa:To>`;
      header = header
        ? header.replace("</s:Header>", `${wsa}</s:Header>`)
        : `<s:Header>${wsa}</s:Header>`;
    }
    const action = /^<(\w+:\w+)/.exec(body)?.[1] ?? "call";
    const answer = await this.#http.request("POST", path, {
      headers: [["Content-Type", "application/soap+xml; charset=utf-8"]],
      body: new TextEncoder().encode(envelope(header, body)),
      maxBytes: MAX_SOAP_BYTES,
      deadlineMs,
      tooLarge: `the camera's ONVIF answer to ${action} is larger than 256 KiB`,
    }).catch((e) => {
      // What the camera did wrong (too late, too large, not HTTP) is the camera's refusal.
      throw e instanceof AppError && e.code === "camera_refused" ? new OnvifError(e.message) : e;
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
        false,
        true,
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
}

/**
 * A camera's ONVIF service over one of its web ports: what each of the live view's controls
 * (onvif_ptz.ts, onvif_focus.ts, onvif_relays.ts, onvif_clock.ts, onvif_reboot.ts,
 * onvif_recording.ts) is built on.
 */
export class OnvifCamera {
  /** Requests to the camera's web port. */
  protected readonly http: DeviceHttp;
  /** The cloud's clock. */
  protected readonly now: () => number;

  /** The camera over `http` (its web port); `now` is the cloud's clock. */
  constructor(http: DeviceHttp, now: () => number) {
    this.http = http;
    this.now = now;
  }

  /** A SOAP conversation dated by the camera's clock `skew` (its clock minus ours; 0: unknown). */
  protected soap(skew = 0): OnvifSoap {
    return new OnvifSoap(this.http, this.now, skew);
  }
}

/**
 * `ask` over the first of `targets` (a camera's web ports, device_http.ts `webTargets`) that has
 * an ONVIF service: a port without one (OnvifError `noService`) passes to the next; any other
 * answer or refusal is the camera's.
 */
export async function overOnvifPorts<T, R>(
  targets: T[],
  ask: (target: T) => Promise<R>,
): Promise<R> {
  for (let i = 0;; i++) {
    try {
      return await ask(targets[i]);
    } catch (e) {
      if (!(e instanceof OnvifError && e.noService && i + 1 < targets.length)) throw e;
    }
  }
}

/** `p` within `ms`, else an OnvifError saying the camera did not answer `what` in time. */
export function onvifWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new OnvifError(`the camera did not ${what} within ${ms / 1000} s`)),
        ms,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}
