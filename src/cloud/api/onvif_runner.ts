/**
 * One way for the live view's camera controls (api/ptz.ts, focus.ts, relays.ts, camera_clock.ts,
 * reboot.ts) to reach a camera's ONVIF service: the handle authorized for the principal, the
 * camera's web ports tried in turn (the first with ONVIF; a call that changes the camera is made
 * once, on that port), where the service is kept for a minute per camera (onvif_places.ts) and
 * forgotten when a call fails (a call the camera refused for its token, dated by a kept clock, is
 * made once more with the place found afresh: the camera did nothing), the whole call within a
 * deadline, and the camera's refusal as a 502 in its words ("the camera did not focus over
 * ONVIF: …").
 * @module
 */
import type { Context } from "hono";
import { authorizeHandle } from "../access/route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTargets } from "../access/device_http.ts";
import { AppError } from "../../shared/errors.ts";
import { OnvifError, onvifWithin, overOnvifPorts } from "../access/onvif_soap.ts";
import { OnvifPlaces } from "../access/onvif_places.ts";
import type { AuthVars } from "./middleware/auth.ts";
import type { Principal } from "../tenancy/auth.ts";

/** Who asks, about which handle (the camera's port the operator chose). */
export interface OnvifAsk {
  principal: Principal;
  handle: string;
}

/** The ask of a request to `/api/handles/{handle}/…`. */
export function askOf(c: Context<AuthVars>): OnvifAsk {
  return { principal: c.get("principal"), handle: c.req.param("handle")! };
}

/** A camera control over one device port: finds where its service is. */
export interface OnvifControl<P> {
  /** Asks the camera where the service is; OnvifError when it has none or refuses. */
  locate(): Promise<P>;
}

/**
 * Runs a control's calls. `make` builds the control over a device's web port, `via` names it in
 * the audit log's use of the cloud-held credentials, `service` names it in the refusal of a
 * camera without a web port ("its PTZ service"), and `deadlineMs` bounds each run.
 */
export function onvifRunner<C extends OnvifControl<P>, P>(
  d: DeviceHttpDeps,
  make: (http: DeviceHttp, now: () => number) => C,
  via: string,
  service: string,
  deadlineMs: number,
): <T>(
  on: OnvifAsk,
  what: string,
  fn: (control: C, place: P, deviceId: string) => Promise<T>,
) => Promise<T> {
  const now = () => d.clock.now();
  const places = new OnvifPlaces<P>(now);
  return async ({ principal: p, handle }, what, fn) => {
    const asked = await authorizeHandle(d, p, handle);
    const targets = await webTargets(d, p, asked, service);
    try {
      return await onvifWithin(
        overOnvifPorts(targets, async (t) => {
          const key = OnvifPlaces.key(t.device.id, t.handle.port);
          const control = make(new DeviceHttp(d, p, t, via), now);
          const kept = places.get(key);
          const place = kept ?? await control.locate();
          places.set(key, place);
          try {
            return await fn(control, place, t.device.id);
          } catch (e) {
            places.forget(key);
            // A kept place dates the call by the camera's clock as it was a while ago; set since
            // (from another node, by NTP), the camera refuses the token and does nothing: find
            // the place afresh (its clock with it) and call once more.
            if (kept === null || !(e instanceof OnvifError) || !e.unauthorized) throw e;
          }
          const fresh = await control.locate();
          places.set(key, fresh);
          try {
            return await fn(control, fresh, t.device.id);
          } catch (e) {
            places.forget(key);
            throw e;
          }
        }),
        deadlineMs,
        "answer",
      );
    } catch (e) {
      if (!(e instanceof OnvifError)) throw e;
      throw new AppError("camera_refused", `the camera did not ${what} over ONVIF: ${e.message}`);
    }
  };
}
