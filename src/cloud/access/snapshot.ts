/**
 * `GET /api/handles/{handle}/snapshot.jpg?path=/…`: the camera's current picture from its own
 * snapshot URL (Hikvision `/ISAPI/Streaming/channels/101/picture`, Dahua `/cgi-bin/snapshot.cgi`,
 * Axis `/axis-cgi/jpg/image.cgi`, …), fetched through the agent's tunnel on the camera's web
 * port with the cloud-held credentials answering its Basic/Digest challenge (device_http.ts).
 * Without `path` the camera is asked for its snapshot URL over ONVIF (onvif_media.ts). The handle
 * may be the camera's web port or its RTSP port (then the device's first web port is used, or the
 * allowlisted port ONVIF's snapshot URI names, under the same tenant and site-scope checks). Only a JPEG answer is passed on, so this is no general
 * proxy. The cloud decodes no video.
 * @module
 */
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { headerValue } from "./proxy/http1.ts";
import type { Authorized } from "./route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTargets } from "./device_http.ts";
import { askOverPorts } from "./onvif_media.ts";
import { OnvifError } from "./onvif_soap.ts";

/** The largest picture passed on. */
export const MAX_SNAPSHOT_BYTES = 8 << 20;

/** The query: the camera's snapshot path (absolute, printable ASCII). */
export const snapshotQuery = z.object({
  path: z.string().max(1024).regex(
    /^\/[\x21-\x7e]*$/,
    "path must start with / and hold printable characters only",
  ).optional(),
});

/** What snapshots need besides routing. */
export type SnapshotDeps = DeviceHttpDeps;

/** Said when the camera's snapshot URL is not known and ONVIF did not tell it. */
export const NO_SNAPSHOT_URL =
  "the camera's snapshot URL is not known: pass ?path= with its snapshot path (e.g. " +
  "/ISAPI/Streaming/channels/101/picture or /cgi-bin/snapshot.cgi)";

/**
 * A camera's pictures, one after another (the motion watcher's, an event each): the snapshot URL
 * ONVIF tells and each web port's held credentials are asked for, and audited, once, not per
 * picture. `targets` are the camera's web ports (webTargets), the first the default.
 */
export class CameraSnapshots {
  readonly #d: SnapshotDeps;
  readonly #principal: Principal;
  readonly #targets: Authorized[];
  readonly #https = new Map<number, DeviceHttp>();
  #told: { path: string; port: number | null } | null = null;

  constructor(d: SnapshotDeps, principal: Principal, targets: Authorized[]) {
    this.#d = d;
    this.#principal = principal;
    this.#targets = targets;
  }

  #httpOf = (t: Authorized): DeviceHttp => {
    let h = this.#https.get(t.handle.port);
    if (!h) {
      this.#https.set(t.handle.port, h = new DeviceHttp(this.#d, this.#principal, t, "snapshot"));
    }
    return h;
  };

  /**
   * Fetches the picture at `path`, or without one at the URL the camera tells over ONVIF; throws
   * AppError (501 when ONVIF does not tell one, 502 when the camera refuses).
   */
  async take(path?: string): Promise<Uint8Array> {
    // The picture comes from the camera's first web port, or the allowlisted port ONVIF's
    // snapshot URI names; ONVIF may answer on another.
    let http = this.#httpOf(this.#targets[0]);
    if (!path) {
      if (!this.#told) {
        try {
          const told = await askOverPorts(this.#targets, this.#httpOf, () => this.#d.clock.now());
          if (!told.snapshotPath) {
            throw new OnvifError("it gave no snapshot URI for its first profile");
          }
          this.#told = { path: told.snapshotPath, port: told.snapshotPort };
        } catch (e) {
          if (!(e instanceof OnvifError)) throw e;
          throw new AppError(
            "not_implemented",
            `${NO_SNAPSHOT_URL}; the camera did not tell it over ONVIF: ${e.message}`,
          );
        }
      }
      path = this.#told.path;
      const named = this.#targets.find((t) => t.handle.port === this.#told!.port);
      if (named) http = this.#httpOf(named);
    }
    const notJpeg = (headers: [string, string][]) =>
      !(headerValue(headers, "content-type") ?? "").toLowerCase().startsWith("image/jpeg");
    const answer = await http.request("GET", path, {
      headers: [["Accept", "image/jpeg"]],
      maxBytes: MAX_SNAPSHOT_BYTES,
      tooLarge: "the camera's picture is larger than 8 MiB",
      head: (status, headers) => {
        if (status === 200 && notJpeg(headers)) {
          throw new AppError("camera_refused", "the camera's answer is not a JPEG picture");
        }
      },
    });
    if (answer.status === 401) {
      throw new AppError(
        "camera_refused",
        "the camera asks for credentials the cloud does not hold (or refused them)",
      );
    }
    if (answer.status !== 200) {
      throw new AppError(
        "camera_refused",
        `the camera answered the snapshot URL with ${answer.status}`,
      );
    }
    return answer.body;
  }
}

/**
 * Fetches the picture; throws AppError (501 when no path is given and ONVIF does not tell one,
 * 502 when the camera refuses).
 */
export async function fetchSnapshot(
  d: SnapshotDeps,
  principal: Principal,
  authorized: Authorized,
  path: string | undefined,
): Promise<Uint8Array> {
  const targets = await webTargets(d, principal, authorized, "its snapshot URL");
  return await new CameraSnapshots(d, principal, targets).take(path);
}
