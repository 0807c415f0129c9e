/**
 * `GET /api/handles/{handle}/snapshot.jpg?path=/…`: the camera's current picture from its own
 * snapshot URL (Hikvision `/ISAPI/Streaming/channels/101/picture`, Dahua `/cgi-bin/snapshot.cgi`,
 * Axis `/axis-cgi/jpg/image.cgi`, …), fetched through the agent's tunnel on the camera's web
 * port with the cloud-held credentials answering its Basic/Digest challenge. The handle may be
 * the camera's web port or its RTSP port (then the device's first web port is used, under the
 * same tenant and site-scope checks). Only a JPEG answer is passed on, so this is no general
 * proxy. The cloud decodes no video and does not ask ONVIF `GetSnapshotUri`: without `path` the
 * answer is 501 saying so.
 * @module
 */
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../tenancy/device_secrets.ts";
import { ChallengeAnswerer } from "./device_auth.ts";
import { protocolOf } from "../store/port_protocols.ts";
import { concat } from "../live/rtp_h264.ts";
import { DeviceConnPool } from "./proxy/device_conn.ts";
import {
  DeviceProtocolError,
  headerValue,
  readBody,
  readResponseHead,
  responseFraming,
  writeRequestHead,
} from "./proxy/http1.ts";
import { type Authorized, authorizeHandle, type RouteDeps } from "./route.ts";

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
export interface SnapshotDeps extends RouteDeps {
  secrets: DeviceSecrets;
}

/** Said when the camera's snapshot URL is not known. */
export const NO_SNAPSHOT_URL =
  "the camera's snapshot URL is not known: pass ?path= with its snapshot path (e.g. " +
  "/ISAPI/Streaming/channels/101/picture or /cgi-bin/snapshot.cgi); ONVIF GetSnapshotUri and " +
  "pictures decoded from the video are not supported";

const pools = new WeakMap<RouteDeps, DeviceConnPool>();

/** A port marked HTTP or HTTPS. */
const isWeb = (device: Authorized["device"], port: number) =>
  ["http", "https"].includes(protocolOf(device, port));

/**
 * The camera's web port for a handle: itself unless it is marked RTSP or SSH, else the device's
 * first port marked HTTP or HTTPS, else its first plain TCP port.
 */
async function webTarget(d: RouteDeps, p: Principal, a: Authorized): Promise<Authorized> {
  if (!["rtsp", "ssh"].includes(protocolOf(a.device, a.handle.port))) return a;
  const port = a.device.ports.find((x) => isWeb(a.device, x)) ??
    a.device.ports.find((x) => protocolOf(a.device, x) === "tcp");
  const h = port === undefined ? null : await d.store.findHandle(a.device.id, port);
  if (!h) {
    throw new AppError(
      "not_implemented",
      "the device has no web port allowlisted, so its snapshot URL cannot be reached",
    );
  }
  return await authorizeHandle(d, p, h.id);
}

/** Fetches the picture; throws AppError (501 without a path, 502 when the camera refuses). */
export async function fetchSnapshot(
  d: SnapshotDeps,
  principal: Principal,
  authorized: Authorized,
  path: string | undefined,
): Promise<Uint8Array> {
  if (!path) throw new AppError("not_implemented", NO_SNAPSHOT_URL);
  const target = await webTarget(d, principal, authorized);
  let pool = pools.get(d);
  if (!pool) pools.set(d, pool = new DeviceConnPool(d));
  const origin = pool.origin(target);
  const host = target.device.host.includes(":") ? `[${target.device.host}]` : target.device.host;
  let answerer: ChallengeAnswerer | null = null;
  for (let attempt = 0;; attempt++) {
    const dc = await pool.open(target, origin.scheme);
    try {
      const headers: [string, string][] = [
        ["Host", `${host}:${target.handle.port}`],
        ["Accept", "image/jpeg"],
        ["User-Agent", "Nanodems Connector snapshot"],
        ["Connection", "close"],
      ];
      const auth = answerer?.authorize("GET", path);
      if (auth) headers.push(["Authorization", auth]);
      await writeRequestHead(dc.conn, "GET", path, headers);
      const head = await readResponseHead(dc.reader);
      if (head.status === 401 && attempt < 2) {
        if (!answerer) {
          const creds = await useDeviceCredentials(d.store, d.secrets, {
            tenantId: target.handle.tenantId,
            deviceId: target.device.id,
            actor: principal.actor,
            via: "snapshot",
            handle: target.handle.id,
          });
          answerer = creds ? new ChallengeAnswerer(creds) : null;
        }
        const challenges = head.headers.filter(([k]) => k.toLowerCase() === "www-authenticate")
          .map(([, v]) => v);
        if (answerer?.challenged(challenges)) continue;
      }
      if (head.status === 401) {
        throw new AppError(
          "camera_refused",
          "the camera asks for credentials the cloud does not hold (or refused them)",
        );
      }
      if (head.status !== 200) {
        throw new AppError(
          "camera_refused",
          `the camera answered the snapshot URL with ${head.status}`,
        );
      }
      const type = (headerValue(head.headers, "content-type") ?? "").toLowerCase();
      if (!type.startsWith("image/jpeg")) {
        throw new AppError("camera_refused", "the camera's answer is not a JPEG picture");
      }
      const parts: Uint8Array[] = [];
      let size = 0;
      for await (const part of readBody(dc.reader, responseFraming("GET", head))) {
        size += part.length;
        if (size > MAX_SNAPSHOT_BYTES) {
          throw new AppError("camera_refused", "the camera's picture is larger than 8 MiB");
        }
        parts.push(part.slice());
      }
      return concat(parts);
    } catch (e) {
      if (e instanceof DeviceProtocolError) throw new AppError("camera_refused", e.message);
      throw e;
    } finally {
      pool.close(dc);
    }
  }
}
