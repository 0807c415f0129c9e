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
  // The picture comes from the camera's first web port, or the allowlisted port ONVIF's snapshot
  // URI names; ONVIF may answer on another.
  const https = new Map<Authorized, DeviceHttp>();
  const httpOf = (t: Authorized) => {
    let h = https.get(t);
    if (!h) https.set(t, h = new DeviceHttp(d, principal, t, "snapshot"));
    return h;
  };
  let http = httpOf(targets[0]);
  if (!path) {
    try {
      const told = await askOverPorts(targets, httpOf, () => d.clock.now());
      path = told.snapshotPath ?? undefined;
      if (!path) throw new OnvifError("it gave no snapshot URI for its first profile");
      const named = targets.find((t) => t.handle.port === told.snapshotPort);
      if (named) http = httpOf(named);
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
      throw new AppError(
        "not_implemented",
        `${NO_SNAPSHOT_URL}; the camera did not tell it over ONVIF: ${e.message}`,
      );
    }
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
