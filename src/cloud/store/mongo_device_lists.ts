/**
 * The MongoDB store's paged device reads for the console's long lists: a page of a site's devices
 * matching a search (skip/limit in the query, sorted on the `tenant_site` index), device counts
 * per site in one aggregation, and the handles, held credentials and host keys of a page of
 * devices in one query per kind. Split from `mongo.ts` to keep each part one concept.
 * @module
 */
import type { Document, Filter } from "mongodb";
import { C, FIELDS, MongoBase, pick } from "./mongo_schema.ts";
import { normalizeProtocols, normalizeStreamPaths } from "./port_protocols.ts";
import { escapeRegex, listSearch, pageBounds } from "./rules.ts";
import type { Device, DeviceExtras, DevicePage, DeviceQuery, Handle, SshHostKey } from "./store.ts";
import { DEFAULT_ALERT_QUIET_S } from "./store.ts";

/**
 * A device as stored, with its port maps normalized: a device stored before ports had a
 * protocol reads each port's default, and a missing stream path map (main or sub) reads empty.
 */
export function asDevice(d: Device | null): Device | null {
  if (!d) return null;
  return {
    ...d,
    protocols: normalizeProtocols(d.ports, undefined, d.protocols ?? undefined),
    streamPaths: normalizeStreamPaths(d.ports, undefined, d.streamPaths ?? undefined),
    subStreamPaths: normalizeStreamPaths(d.ports, undefined, d.subStreamPaths ?? undefined),
    motionAlerts: d.motionAlerts === true,
    // A device stored before the setting: the minute it always was.
    alertQuietSeconds: typeof d.alertQuietSeconds === "number"
      ? d.alertQuietSeconds
      : DEFAULT_ALERT_QUIET_S,
    // A device stored before snoozing existed: not snoozed.
    alertsSnoozedUntil: typeof d.alertsSnoozedUntil === "number" ? d.alertsSnoozedUntil : null,
    // A device stored before the setting: its sound played, as it always was.
    liveSound: d.liveSound !== false,
    // A device stored before firmware was asked: none known.
    firmware: typeof d.firmware === "string" ? d.firmware : "",
  };
}

/** Paged device lists over one database. */
export class MongoDeviceLists extends MongoBase {
  /** See {@linkcode Store.queryDevices}. */
  async queryDevices(tenantId: string, siteId: string, query: DeviceQuery): Promise<DevicePage> {
    const { offset, limit } = pageBounds(query);
    const search = listSearch(query.search);
    const filter: Filter<Document> = { tenantId, siteId };
    if (search !== null) {
      const re = { $regex: escapeRegex(search), $options: "i" };
      const or: Document[] = ["host", "label", "manufacturer", "model", "firmware", "loopbackIp"]
        .map((f) => ({ [f]: re }));
      if (/^[0-9]{1,5}$/.test(search)) or.push({ ports: Number(search) });
      filter.$or = or;
    }
    const docs = await this.c(C.devices).find(filter).sort({ createdAt: 1, ord: 1 })
      .skip(offset).limit(limit).toArray();
    return {
      devices: docs.map((d) => asDevice(pick<Device>(d, FIELDS.device))!),
      total: await this.c(C.devices).countDocuments(filter),
    };
  }

  /** See {@linkcode Store.countDevicesBySite}. */
  async countDevicesBySite(tenantId: string, siteIds?: string[]): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    const only = siteIds === undefined ? {} : { siteId: { $in: siteIds } };
    const groups = await this.c(C.devices).aggregate([
      { $match: { tenantId, ...only } },
      { $group: { _id: "$siteId", n: { $sum: 1 } } },
    ]).toArray();
    for (const g of groups) out[String(g._id)] = Number(g.n);
    return out;
  }

  /** See {@linkcode Store.listDeviceExtras}. */
  async listDeviceExtras(tenantId: string, deviceIds: string[]): Promise<DeviceExtras> {
    const now = this.now();
    const handles = await this.c(C.handles).find({
      deviceId: { $in: deviceIds },
      tenantId,
      revokedAt: null,
      $or: [{ expiresAt: null }, { expiresAt: { $gt: now } }],
    }).sort({ createdAt: -1, ord: -1 }).toArray();
    const creds = await this.c(C.deviceCredentials).find(
      { _id: { $in: deviceIds as never[] }, tenantId },
      { projection: { _id: 1 } },
    ).toArray();
    const keys = await this.c(C.sshHostKeys).find({ deviceId: { $in: deviceIds }, tenantId })
      .sort({ deviceId: 1, port: 1 }).toArray();
    return {
      handles: handles.map((h) => pick<Handle>(h, FIELDS.handle)),
      withCredentials: creds.map((c) => String(c._id)),
      hostKeys: keys.map((k) => pick<SshHostKey>(k, FIELDS.sshHostKey)),
    };
  }
}
