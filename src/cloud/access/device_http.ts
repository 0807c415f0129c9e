/**
 * HTTP requests the cloud itself makes to a camera's web port through its agent's tunnel — the
 * snapshot picture, the ONVIF questions — rather than relaying an operator's browser. Each goes
 * on a pooled device connection (proxy/device_conn.ts), answers a Basic or Digest challenge with
 * the cloud-held credentials (opened, and audited as one use, the first time they are needed),
 * and reads the answer whole up to a bound. For a handle on the camera's RTSP (or SSH) port the
 * device's web port is used, under the same tenant and site-scope checks.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../tenancy/device_secrets.ts";
import { ChallengeAnswerer, type DeviceCredentials } from "./device_auth.ts";
import { protocolOf } from "../store/port_protocols.ts";
import { concat } from "../live/rtp_video.ts";
import { DeviceConnPool } from "./proxy/device_conn.ts";
import {
  DeviceProtocolError,
  readBody,
  readResponseHead,
  responseFraming,
  writeRequestHead,
} from "./proxy/http1.ts";
import { type Authorized, authorizeHandle, type RouteDeps } from "./route.ts";

/** What requests to a device need besides routing. */
export interface DeviceHttpDeps extends RouteDeps {
  secrets: DeviceSecrets;
}

/** A device's answer, read whole. */
export interface DeviceAnswer {
  status: number;
  headers: [string, string][];
  body: Uint8Array;
}

const pools = new WeakMap<RouteDeps, DeviceConnPool>();

/** A port marked HTTP or HTTPS. */
const isWeb = (device: Authorized["device"], port: number) =>
  ["http", "https"].includes(protocolOf(device, port));

/**
 * The camera's web ports for a handle, in the order to try them: the handle's own port unless it
 * is marked RTSP or SSH, else the device's ports marked HTTP or HTTPS, then its plain TCP ports
 * (a camera may serve ONVIF on another port than its web pages: Reolink's 8000). `what` names
 * the thing looked for in the 501 when there is none ("its snapshot URL").
 */
export async function webTargets(
  d: RouteDeps,
  p: Principal,
  a: Authorized,
  what: string,
): Promise<Authorized[]> {
  if (!["rtsp", "ssh"].includes(protocolOf(a.device, a.handle.port))) return [a];
  const ports = [
    ...a.device.ports.filter((x) => isWeb(a.device, x)),
    ...a.device.ports.filter((x) => protocolOf(a.device, x) === "tcp"),
  ];
  const out: Authorized[] = [];
  for (const port of ports) {
    const h = await d.store.findHandle(a.device.id, port);
    if (h) out.push(await authorizeHandle(d, p, h.id));
  }
  if (!out.length) {
    throw new AppError(
      "not_implemented",
      `the device has no web port allowlisted, so ${what} cannot be reached`,
    );
  }
  return out;
}

/** Requests to one device's web port on behalf of one operator, for one purpose (`via`). */
export class DeviceHttp {
  readonly #d: DeviceHttpDeps;
  readonly #principal: Principal;
  readonly #target: Authorized;
  readonly #via: string;
  #credentials: Promise<DeviceCredentials | null> | null = null;
  #answerer: ChallengeAnswerer | null = null;

  /** Requests to `target`'s port (a web port: see {@linkcode webTargets}). */
  constructor(d: DeviceHttpDeps, principal: Principal, target: Authorized, via: string) {
    this.#d = d;
    this.#principal = principal;
    this.#target = target;
    this.#via = via;
  }

  /** The cloud-held credentials of the device (null: none held); opened and audited once. */
  credentials(): Promise<DeviceCredentials | null> {
    return this.#credentials ??= useDeviceCredentials(this.#d.store, this.#d.secrets, {
      tenantId: this.#target.handle.tenantId,
      deviceId: this.#target.device.id,
      actor: this.#principal.actor,
      via: this.#via,
      handle: this.#target.handle.id,
    });
  }

  /**
   * Sends one request and reads the answer; a 401 is answered with the held credentials (twice
   * at most) and returned as it is when they do not help. `tooLarge` is the 502's words for an
   * answer over `maxBytes`; `head` may refuse an answer by its head alone (throw), before its
   * body is read (an endless MJPEG stream where a picture was expected). `deadlineMs` bounds
   * each attempt: a camera that has not answered whole by then has its connection closed (and
   * its tunnel with it) and the request fails with `camera_refused`, saying so.
   */
  async request(
    method: string,
    path: string,
    o: {
      headers?: [string, string][];
      body?: Uint8Array;
      maxBytes: number;
      tooLarge: string;
      head?: (status: number, headers: [string, string][]) => void;
      deadlineMs?: number;
    },
  ): Promise<DeviceAnswer> {
    const t = this.#target;
    let pool = pools.get(this.#d);
    if (!pool) pools.set(this.#d, pool = new DeviceConnPool(this.#d));
    const origin = pool.origin(t);
    const host = t.device.host.includes(":") ? `[${t.device.host}]` : t.device.host;
    for (let attempt = 0;; attempt++) {
      const dc = await pool.open(t, origin.scheme);
      let late = false;
      const deadline = o.deadlineMs === undefined ? undefined : setTimeout(() => {
        late = true;
        pool!.close(dc);
      }, o.deadlineMs);
      try {
        const headers: [string, string][] = [
          ["Host", `${host}:${t.handle.port}`],
          ...(o.headers ?? []),
          ["User-Agent", "Nanodems Connector"],
          ["Connection", "close"],
        ];
        if (o.body) headers.push(["Content-Length", String(o.body.byteLength)]);
        const auth = this.#answerer?.authorize(method, path);
        if (auth) headers.push(["Authorization", auth]);
        await writeRequestHead(dc.conn, method, path, headers);
        if (o.body) {
          for (let off = 0; off < o.body.byteLength;) {
            off += await dc.conn.write(o.body.subarray(off));
          }
        }
        const head = await readResponseHead(dc.reader);
        o.head?.(head.status, head.headers);
        const parts: Uint8Array[] = [];
        let size = 0;
        for await (const part of readBody(dc.reader, responseFraming(method, head))) {
          size += part.length;
          if (size > o.maxBytes) throw new AppError("camera_refused", o.tooLarge);
          parts.push(part.slice());
        }
        if (head.status === 401 && attempt < 2) {
          const creds = await this.credentials();
          this.#answerer ??= creds ? new ChallengeAnswerer(creds) : null;
          const challenges = head.headers.filter(([k]) => k.toLowerCase() === "www-authenticate")
            .map(([, v]) => v);
          if (this.#answerer?.challenged(challenges)) continue;
        }
        return { status: head.status, headers: head.headers, body: concat(parts) };
      } catch (e) {
        if (late) {
          throw new AppError(
            "camera_refused",
            `the camera did not answer within ${o.deadlineMs! / 1000} s`,
          );
        }
        if (e instanceof DeviceProtocolError) throw new AppError("camera_refused", e.message);
        throw e;
      } finally {
        clearTimeout(deadline);
        pool.close(dc);
      }
    }
  }
}
