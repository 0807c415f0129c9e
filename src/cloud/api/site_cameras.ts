/**
 * Asking a site's cameras one thing each, over ONVIF through their tunnels, from one press (the
 * stream paths a site just discovered lacks, every camera's clock): the site checked against the
 * principal, the cameras' ports chosen, a few cameras at a time and at most so many a press (the
 * answer says how many are left for the next), each camera's answer or why it did not give one,
 * in the order of their addresses.
 * @module
 */
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import type { Device, Store } from "../store/store.ts";
import { OnvifError } from "../access/onvif_soap.ts";

/** One camera port asked. */
export interface SiteCamera {
  deviceId: string;
  host: string;
  label: string;
  port: number;
}

/**
 * What a site-wide ask found: each port asked with its answer or error, how many are left, and
 * where the next press starts (its `offset`), or null when none are left.
 */
export interface SiteAsk<R> {
  items: (SiteCamera & Partial<R> & { error?: string })[];
  remaining: number;
  next: number | null;
}

/**
 * Asks `ask` of each port `ports` picks of the site's devices (at most `max` from `offset` on,
 * `parallel` at a time); an ask that throws an OnvifError or AppError is that camera's `error`. A
 * site the principal may not see is a 404. An ask whose ports drop out once answered (the stream
 * paths) starts each press at 0; one that asks every camera each time (the clocks) pages on with
 * `next`.
 */
export async function askSiteCameras<R extends object>(
  store: Store,
  p: Principal,
  siteId: string,
  ports: (dev: Device) => number[],
  ask: (handleId: string) => Promise<R>,
  o: { max: number; parallel: number; offset?: number },
): Promise<SiteAsk<R>> {
  const site = await store.getSite(p.tenantId, siteId);
  if (!site || (p.siteIds && !p.siteIds.includes(site.id))) {
    throw new AppError("not_found", "no such site");
  }
  const cameras: SiteCamera[] = (await store.listDevices(p.tenantId, site.id)).flatMap((dev) =>
    ports(dev).map((port) => ({ deviceId: dev.id, host: dev.host, label: dev.label, port }))
  );
  const offset = Math.min(o.offset ?? 0, cameras.length);
  const batch = cameras.slice(offset, offset + o.max);
  const items: SiteAsk<R>["items"] = [];
  let next = 0;
  const worker = async () => {
    while (next < batch.length) {
      const cam = batch[next++];
      const item = { ...cam } as SiteAsk<R>["items"][number];
      items.push(item);
      try {
        const h = await store.findHandle(cam.deviceId, cam.port);
        if (!h) throw new AppError("not_found", "the camera's port has no handle");
        Object.assign(item, await ask(h.id));
      } catch (e) {
        if (!(e instanceof OnvifError || e instanceof AppError)) throw e;
        item.error = e.message;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, batch.length) }, worker));
  const remaining = cameras.length - offset - batch.length;
  return {
    items: items.sort((a, b) => a.host.localeCompare(b.host) || a.port - b.port),
    remaining,
    next: remaining > 0 ? offset + batch.length : null,
  };
}
