/**
 * Asking a camera, over ONVIF, where its video and its picture are: the stream path for its RTSP
 * URL (`GetStreamUri`) and its snapshot URL (`GetSnapshotUri`), for the first media profile
 * (cameras list their main stream first), and the stream path of the second profile (their
 * sub-stream, which the live grid and the thumbnails play: a grid of main streams would fill a
 * site's uplink). An operator should not have to know that Hikvision says
 * `/Streaming/Channels/101` and Dahua `/cam/realmonitor?channel=1&subtype=0`: the camera knows.
 *
 * The questions go to the camera's web port through the tunnel (device_http.ts, onvif_soap.ts):
 * the clock and the media service's address from the device service (`GetSystemDateAndTime`,
 * `GetCapabilities`, which cameras answer without credentials), then `GetProfiles` and the URIs
 * from the media service, signed with a WS-Security UsernameToken from the cloud-held
 * credentials, and an HTTP Digest challenge answered too.
 * Only the path and query of each URI are kept: the host in it is the camera's LAN address,
 * which the cloud never dials (the tunnel does, by the device's allowlisted address).
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import { escapeXml, xmlAttributes, xmlBlocks, xmlTexts } from "../../shared/xml_text.ts";
import type { DeviceHttp } from "./device_http.ts";
import { DEVICE_SERVICE, OnvifError, OnvifSoap, overOnvifPorts, pathOfUri } from "./onvif_soap.ts";
import {
  DEVICE_INFORMATION_BODY,
  type DeviceIdentity,
  deviceIdentityOf,
} from "./onvif_identity.ts";

/** The media service when the camera does not say (the common default). */
export const MEDIA_SERVICE = "/onvif/media_service";

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
  /** What it says it is (maker, model, firmware), or null when it would not say. */
  identity: DeviceIdentity | null;
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

/** One ONVIF conversation with a camera about its media, over `http` (its web port). */
export class OnvifMedia {
  readonly #soap: OnvifSoap;

  /** A conversation over `http`; `now` is the cloud's clock. */
  constructor(http: DeviceHttp, now: () => number) {
    this.#soap = new OnvifSoap(http, now);
  }

  /**
   * The paths of the first media profile (its RTSP stream path and its snapshot path), the
   * second profile's stream path, and what the camera says it is. Throws OnvifError when the camera does not speak ONVIF or
   * refuses.
   */
  async mediaPaths(): Promise<MediaPaths> {
    await this.#soap.syncClock();
    const media = await this.#soap.service("Media", MEDIA_SERVICE);
    const profiles = await this.#soap.call(media, "<trt:GetProfiles/>", true);
    const [profile, second] = xmlAttributes(profiles, "Profiles", "token", 2);
    if (!profile) throw new OnvifError("the camera lists no media profile over ONVIF");
    const token = (p: string) => `<trt:ProfileToken>${escapeXml(p)}</trt:ProfileToken>`;
    const answer = (xml: string) =>
      this.#soap.call(media, xml, true).catch((e) =>
        e instanceof OnvifError ? "" : Promise.reject(e)
      );
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
    // What it is, where it says (a camera that will not is asked for its video all the same).
    const information = await this.#soap.call(DEVICE_SERVICE, DEVICE_INFORMATION_BODY, true)
      .catch((e) => e instanceof OnvifError ? "" : Promise.reject(e));
    return {
      profile,
      streamPath,
      snapshotPath,
      snapshotPort,
      subStreamPath: sub === streamPath ? null : sub,
      identity: deviceIdentityOf(information),
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
  return await overOnvifPorts(targets, (t) => new OnvifMedia(http(t), now).mediaPaths());
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
