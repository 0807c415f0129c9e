/**
 * Motion alerts: for every device whose motion alerts are on, the cloud keeps an ONVIF pull-point
 * subscription to the camera through its tunnel (access/onvif_events.ts) and raises a
 * `camera.motion` event when the camera reports motion starting, `camera.tamper` when it reports
 * being tampered with (covered, turned, sprayed), `camera.input` when one of its alarm inputs (a
 * door contact, a detector wired to it) becomes active — into the tenant's events, its console
 * badge and its webhooks, like any other event. A camera that keeps reporting one raises at most
 * one event of it (of each input) per its quiet period (the device's `alertQuietSeconds`, a minute
 * unless set; 0: every start).
 *
 * The cameras are split among the running nodes (motion_shards.ts: a shard's lock held by the node
 * it belongs to), so a camera is never subscribed to twice and every node carries its part; the
 * tunnels reach agents held by sibling nodes as every other use does. Each tick a node renews its
 * shards, reads the devices with alerts on (the first `--motion-max-cameras` of them, for the
 * whole deployment) and starts or stops the watchers of its shards to match; a shard it lets go
 * or loses stops its watchers. A watcher that fails (no credentials, no ONVIF events, the agent
 * away) logs why and tries again later, or within a tick of its site's agent coming back. However
 * many watchers start together, a node subscribes a few at a time (subscribe_slots.ts). What
 * each watcher knows is written to the store (`putMotionStatus`), so the device's
 * `GET /api/devices/{id}/motion` and its site page say it on every node, not only on the one that
 * watches.
 * @module
 */
import { type Device, MAX_EVENT_SNAPSHOT_BYTES, type MotionStatusRecord } from "../store/store.ts";
import { CameraSnapshots } from "../access/snapshot.ts";
import { PICTURE_LINK_MS, type PictureLinks } from "./picture_links.ts";
import type { Principal } from "../tenancy/auth.ts";
import { AppError } from "../../shared/errors.ts";
import { type Authorized, authorizeHandle } from "../access/route.ts";
import { DeviceHttp, type DeviceHttpDeps, webTargets } from "../access/device_http.ts";
import { type CameraNotice, OnvifEvents, SUBSCRIPTION_S } from "../access/onvif_events.ts";
import { onvifWithin, overOnvifPorts } from "../access/onvif_soap.ts";
import { startLeaderTicks } from "../jobs/leader.ts";
import { MOTION_SHARD_LOCKS, ShardClaim, shardOf } from "./motion_shards.ts";
import { SUBSCRIBE_CONCURRENCY, SubscribeSlots } from "./subscribe_slots.ts";
import { ensureHandle } from "../tenancy/handle.ts";
import { protocolOf } from "../store/port_protocols.ts";
import type { EventProducer } from "./producer.ts";

/** What a camera reports that raises an event (`camera.motion`, `camera.tamper`, `camera.input`). */
type Alarm = "motion" | "tamper" | "input";
const ALARMS: readonly Alarm[] = ["motion", "tamper", "input"];

/** Devices watched by one cloud at most, by default (`--motion-max-cameras`). */
export const MAX_WATCHED = 2_000;
/** Devices past the limit told why they are not watched, at most (the rest are not listed). */
const OVER_LISTED = 10_000;
/** The watch id of the status written for a device past the limit. */
const OVER = "over-limit";
/** How long one PullMessages waits for the camera. */
const PULL_S = 10;
/** Subscribing (the clock, the capabilities, the pull point) within this, or it failed. */
const SUBSCRIBE_DEADLINE_MS = 25_000;
/** Renewed this long before the subscription would end. */
const RENEW_BEFORE_MS = (SUBSCRIPTION_S / 2) * 1000;
/** The camera's picture for an event within this, or the event goes without one. */
const SNAPSHOT_DEADLINE_MS = 8_000;
/** A camera's motion start is written to the store at most this often (the status's time). */
const MOTION_WRITE_MS = 5_000;

/** What a watcher last knew, for the device's motion status. */
export interface MotionStatus {
  /** `watching` (subscribed), `starting`, or `failing` (see `error`). */
  state: "starting" | "watching" | "failing";
  /** Why the last subscription failed, in the camera's or the cloud's words. */
  error?: string;
  /** When the camera last reported motion starting (ms), or null. */
  lastMotionAt: number | null;
  /** Since when (ms) the state holds. */
  since: number;
  /** The node that watches the camera. */
  node: string;
}

/** What the watch needs. */
export interface MotionWatchDeps extends DeviceHttpDeps {
  events: EventProducer;
  /** This node's lock owner name. */
  owner: string;
  /** This node's name (`--node`), which the status names. */
  node: string;
  /** The cloud's base URL as operators reach it (for the event's link to the live view). */
  publicUrl?: () => string;
  /** How often each node tries to lead and reconciles (default 10 s). */
  everyMs?: number;
  /** Signs the alert pictures' links that work without signing in (`detail.snapshotUrl`). */
  pictureLinks?: PictureLinks;
  /** Devices watched at most (default MAX_WATCHED); the next are told why they are not. */
  maxWatched?: number;
  /**
   * The wait after the n-th failed subscription (default 5 s doubling, at most 5 min), cut short
   * for a failure of the site's agent being away by the first tick that finds one online.
   */
  retryMs?: (n: number) => number;
  /** Watchers of this node that subscribe at once (default SUBSCRIBE_CONCURRENCY). */
  subscribeConcurrency?: number;
}

/** The running watch. */
export interface MotionWatch {
  /** Reconciles now (a device's alerts were switched here). */
  poke(): void;
  /**
   * What the watchers of `deviceIds` know, by device: this node's own watchers as they are, the
   * others' as the watching node last wrote them. A device nobody watches yet has none.
   */
  statuses(deviceIds: string[]): Promise<Map<string, MotionStatus>>;
  stop(): Promise<void>;
}

interface Watcher {
  key: string;
  /** This watcher's id in the store's record (a newer watcher's record is not its to forget). */
  watch: string;
  abort: AbortController;
  done: Promise<void>;
  status: MotionStatus;
  /** The last write of `status` to the store (they go one after the other). */
  written: Promise<void>;
  /** When `status` was last written, and whether it changed since. */
  writtenAt: number;
  dirty: boolean;
  /**
   * The device's quiet period after an alert (`alertQuietSeconds`), in ms: read again at each
   * reconcile, so a change applies to the running subscription.
   */
  quietMs: number;
  /** The site whose agent the watcher waits for (its last failure: no agent online), or null. */
  awaitingSite: string | null;
  /** Ends the watcher's pause before a retry (its site's agent is back). */
  wake: () => void;
}

/** The principal a watcher acts as: the system, as an admin of the device's tenant. */
function systemPrincipal(tenantId: string): Principal {
  return { kind: "api_key", tenantId, userId: null, role: "admin", actor: "system:motion" };
}

/** Resolves after `ms`, or at once when `signal` aborts (or has aborted already). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // An aborted signal fires no more: a stopped watcher waited out its whole retry pause
    // (5 s and more) before it ended and its status was removed.
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * The device's web ports to ask, as the handle of its RTSP port (else its first) reaches them
 * (webTargets; a handle is minted, and audited, when the port has none), and that handle.
 */
async function targetsOf(
  d: MotionWatchDeps,
  p: Principal,
  device: Device,
): Promise<{ targets: Authorized[]; handle: string; rtsp: boolean }> {
  const port = device.ports.find((x) => protocolOf(device, x) === "rtsp") ?? device.ports[0];
  if (port === undefined) throw new AppError("not_found", "the device has no port");
  const h = await ensureHandle(d.store, d.clock, {
    tenantId: device.tenantId,
    siteId: device.siteId,
    deviceId: device.id,
    port,
  }, (minted) =>
    d.store.appendAudit({
      tenantId: device.tenantId,
      actor: p.actor,
      action: "handle.mint",
      target: minted.id,
      detail: { device: device.id, port },
    }));
  const targets = await webTargets(d, p, await authorizeHandle(d, p, h.id), "its ONVIF events");
  return { targets, handle: h.id, rtsp: protocolOf(device, port) === "rtsp" };
}

/** Starts the watch on this node. */
export function startMotionWatch(d: MotionWatchDeps): MotionWatch {
  const watchers = new Map<string, Watcher>();
  const retry = d.retryMs ?? ((n: number) => Math.min(300_000, 5_000 * 2 ** Math.min(n - 1, 6)));
  const slots = new SubscribeSlots(d.subscribeConcurrency ?? SUBSCRIBE_CONCURRENCY);
  const now = () => d.clock.now();

  /**
   * The camera's picture now, kept for the event (its id), or null when the camera gives none in
   * time (no snapshot URL, a refusal, too large): the event then goes without.
   */
  const snapshot = async (device: Device, pictures: CameraSnapshots): Promise<string | null> => {
    try {
      const jpeg = await onvifWithin(
        pictures.take(),
        SNAPSHOT_DEADLINE_MS,
        "give its picture",
      );
      if (jpeg.byteLength > MAX_EVENT_SNAPSHOT_BYTES) {
        throw new Error(
          `its picture is ${jpeg.byteLength} bytes, over ${MAX_EVENT_SNAPSHOT_BYTES}`,
        );
      }
      const id = crypto.randomUUID();
      await d.store.putEventSnapshot({
        id,
        tenantId: device.tenantId,
        siteId: device.siteId,
        deviceId: device.id,
        jpeg,
      });
      return id;
    } catch (e) {
      d.log.info(
        { deviceId: device.id, err: (e as Error).message },
        "motion alerts: the event goes without the camera's picture",
      );
      return null;
    }
  };

  /** Raises `camera.motion`, `camera.tamper` or `camera.input` for what `n` told of `device` at `at`. */
  const raise = async (
    kind: Alarm,
    device: Device,
    port: number,
    n: CameraNotice,
    at: number,
    live: string | null,
    pictures: CameraSnapshots,
  ) => {
    // Named as the camera is now (a rename does not restart its watcher).
    const named = (await d.store.getDevice(device.tenantId, device.id)) ?? device;
    // What the camera saw, taken before the event so the event never names a missing picture.
    const picture = await snapshot(device, pictures);
    // Its link for a webhook receiver: one that opens it without signing in, for a day.
    const link = picture && d.publicUrl
      ? `${d.publicUrl()}/api/event-snapshots/${picture}.jpg` +
        (d.pictureLinks
          ? `?${await d.pictureLinks.sign(device.tenantId, picture, now() + PICTURE_LINK_MS)}`
          : "")
      : null;
    await d.events.emit({
      tenantId: device.tenantId,
      type: `camera.${kind}`,
      subject: {
        name: `${named.label || named.host}`,
        siteId: device.siteId,
        deviceId: device.id,
        host: device.host,
        port,
      },
      actor: "system",
      detail: {
        topic: n.topic,
        ...(kind === "input" && n.inputName ? { input: n.inputName } : {}),
        ...(n.at === null ? {} : { cameraTime: new Date(n.at).toISOString() }),
        // Where an operator who reads the alert watches the camera (signed-in users of the tenant).
        ...(live ? { liveUrl: live } : {}),
        // What it saw (api/event_snapshots.ts; the tenant's users and tokens).
        ...(picture ? { snapshot: picture } : {}),
        ...(link ? { snapshotUrl: link } : {}),
      },
      key: `camera.${kind}:${device.id}:${kind === "input" ? `${n.inputName ?? ""}:` : ""}${at}`,
    });
  };

  /** Sets the watcher's status; written to the store now, or (`lazy`) once MOTION_WRITE_MS passed. */
  const setStatus = (device: Device, w: Watcher, next: MotionStatus, lazy = false) => {
    w.status = next;
    w.dirty = true;
    if (lazy && now() - w.writtenAt < MOTION_WRITE_MS) return;
    flush(device, w);
  };
  const flush = (device: Device, w: Watcher) => {
    if (!w.dirty || w.abort.signal.aborted) return;
    w.dirty = false;
    w.writtenAt = now();
    const { error, ...rest } = w.status;
    const record: MotionStatusRecord = {
      deviceId: device.id,
      watch: w.watch,
      ...rest,
      ...(error === undefined ? {} : { error }),
    };
    w.written = w.written.then(() => d.store.putMotionStatus(record)).catch((e) =>
      d.log.warn(
        { deviceId: device.id, err: (e as Error).message },
        "motion alerts: status not saved",
      )
    );
  };

  const run = async (device: Device, w: Watcher) => {
    const signal = w.abort.signal;
    const p = systemPrincipal(device.tenantId);
    let failures = 0;
    let agentAway = false;
    // By alarm, and for inputs by input: when its last event was raised.
    const lastEventAt = new Map<string, number>();
    while (!signal.aborted) {
      let events: OnvifEvents | null = null;
      let port = 0;
      let live: string | null = null;
      try {
        // One of the node's subscribing slots first: a crowd of watchers that start together
        // (a node's start, a site's return) subscribes a few at a time, those trying again
        // after a failure behind the others, tenants and sites in turn (subscribe_slots.ts).
        const slot = await slots.take(signal, failures > 0, device);
        if (!slot) break;
        let pictures: CameraSnapshots;
        try {
          const { targets, handle, rtsp } = await targetsOf(d, p, device);
          // The subscription's pictures: the snapshot URL asked, and credentials opened, once.
          pictures = new CameraSnapshots(d, p, targets);
          live = rtsp && d.publicUrl ? `${d.publicUrl()}/live/${handle}` : null;
          const subscribed = await overOnvifPorts(targets, async (t) => {
            const e = new OnvifEvents(new DeviceHttp(d, p, t, "motion"), now);
            await onvifWithin(e.subscribe(), SUBSCRIBE_DEADLINE_MS, "subscribe to its events");
            return { e, port: t.handle.port };
          });
          events = subscribed.e;
          port = subscribed.port;
        } finally {
          slot();
        }
        failures = 0;
        setStatus(device, w, { ...w.status, state: "watching", error: undefined, since: now() });
        d.log.info({ deviceId: device.id, host: device.host }, "motion alerts: subscribed");
        let renewAt = now() + SUBSCRIPTION_S * 1000 - RENEW_BEFORE_MS;
        const active = new Set<string>();
        while (!signal.aborted) {
          // Each call has its deadline (onvif_soap.ts): a silent camera fails the pull.
          const notices = await events.pull(PULL_S);
          for (const n of notices) {
            for (const kind of ALARMS) {
              const on = n[kind];
              if (on === null) continue;
              const which = kind === "input" ? `input:${n.inputName ?? ""}` : kind;
              const started = on && !active.has(which);
              if (on) active.add(which);
              else active.delete(which);
              if (!started || signal.aborted) continue;
              const at = now();
              if (at - (lastEventAt.get(which) ?? -Infinity) >= w.quietMs) {
                lastEventAt.set(which, at);
                await raise(kind, device, port, n, at, live, pictures);
              }
              if (kind === "motion") setStatus(device, w, { ...w.status, lastMotionAt: at }, true);
            }
          }
          flush(device, w);
          if (now() >= renewAt) {
            await events.renew();
            renewAt = now() + SUBSCRIPTION_S * 1000 - RENEW_BEFORE_MS;
          }
        }
      } catch (err) {
        if (signal.aborted) break;
        failures++;
        agentAway = err instanceof AppError &&
          (err.code === "agent_offline" || err.code === "no_agent_yet");
        const message = (err as Error).message;
        setStatus(device, w, { ...w.status, state: "failing", error: message, since: now() });
        d.log.warn(
          { deviceId: device.id, host: device.host, err: message },
          "motion alerts: failed",
        );
      } finally {
        if (events?.subscribed) {
          await onvifWithin(events.unsubscribe(), 5_000, "unsubscribe").catch(() => {});
        }
      }
      // The back-off grows to minutes while the site is offline; its agent's return ends it.
      const early = new AbortController();
      w.awaitingSite = agentAway ? device.siteId : null;
      w.wake = () => early.abort();
      await pause(retry(Math.max(1, failures)), AbortSignal.any([signal, early.signal]));
      w.awaitingSite = null;
      w.wake = () => {};
    }
  };

  const start = (device: Device, key: string) => {
    const w: Watcher = {
      key,
      watch: crypto.randomUUID(),
      abort: new AbortController(),
      done: Promise.resolve(),
      status: { state: "starting", lastMotionAt: null, since: now(), node: d.node },
      written: Promise.resolve(),
      writtenAt: 0,
      dirty: true,
      quietMs: device.alertQuietSeconds * 1000,
      awaitingSite: null,
      wake: () => {},
    };
    flush(device, w);
    w.done = run(device, w).catch((e) =>
      d.log.error({ deviceId: device.id, err: (e as Error).message }, "motion watcher ended")
    );
    watchers.set(device.id, w);
  };
  /**
   * Stops the device's watcher; `forget` (its alerts are off, or it is gone) also removes the
   * status it wrote. A node that lost the lock keeps it: the new leader's watcher replaces it.
   */
  const stopOne = (id: string, forget: boolean) => {
    const w = watchers.get(id);
    if (!w) return Promise.resolve();
    watchers.delete(id);
    w.abort.abort();
    return w.done.then(() => w.written).then(() => {
      if (!forget) return;
      return d.store.deleteMotionStatus(id, w.watch).catch((e) =>
        d.log.warn({ deviceId: id, err: (e as Error).message }, "motion alerts: status not removed")
      );
    });
  };

  const max = d.maxWatched ?? MAX_WATCHED;
  /** Devices past the limit whose status says so (written once each). */
  const over = new Set<string>();
  const claim = new ShardClaim({ store: d.store, node: d.node, owner: d.owner, now });
  const reconcile = async (held: ReadonlySet<number>) => {
    const listed = await d.store.listMotionAlertDevices(max + OVER_LISTED);
    const mine = (dev: Device) => held.has(shardOf(dev.id));
    const devices = listed.slice(0, max).filter(mine);
    await tellOver(listed.slice(max), mine);
    const wanted = new Map(devices.map((dev) => [dev.id, dev]));
    const on = new Set(listed.map((dev) => dev.id));
    for (const id of [...watchers.keys()]) {
      const dev = wanted.get(id);
      // Alerts off or the device gone: its status goes too. Another node's now (a shard that
      // moved, or past the limit): that node says how it is.
      if (!dev) stopOne(id, !on.has(id));
      else if (watchers.get(id)!.key !== `${dev.host}|${dev.ports.join(",")}`) stopOne(id, false);
      else watchers.get(id)!.quietMs = dev.alertQuietSeconds * 1000;
    }
    for (const dev of devices) {
      if (!watchers.has(dev.id)) start(dev, `${dev.host}|${dev.ports.join(",")}`);
    }
  };
  /**
   * Says on each device of this node's shards past the limit that it is not watched, and why;
   * forgets it for the devices no longer past it (a watcher's own status replaces it; alerts off
   * removes it). A device whose shard moved is left to its new node, which says it again.
   */
  const tellOver = async (past: Device[], mine: (dev: Device) => boolean) => {
    const now_ = now();
    const ids = new Set(past.map((dev) => dev.id));
    const ours = new Set(past.filter(mine).map((dev) => dev.id));
    for (const id of [...over]) {
      if (ours.has(id)) continue;
      over.delete(id);
      if (!ids.has(id)) await d.store.deleteMotionStatus(id, OVER);
    }
    let added = 0;
    for (const dev of past) {
      if (!mine(dev) || over.has(dev.id)) continue;
      over.add(dev.id);
      added++;
      await d.store.putMotionStatus({
        deviceId: dev.id,
        state: "failing",
        error: `not watched: motion alerts are on for more cameras than this cloud watches ` +
          `(${max}, --motion-max-cameras); switch some off, or raise the limit`,
        lastMotionAt: null,
        since: now_,
        node: d.node,
        watch: OVER,
      });
    }
    if (added) {
      d.log.warn(
        { watched: max, past: past.length },
        "motion alerts: more cameras than --motion-max-cameras; the newest are not watched",
      );
    }
  };
  /**
   * Wakes the watchers waiting for their site's agent where one is online again (one presence
   * read per such site): alerts resume within a tick of the site's return, not after a back-off
   * that grew to minutes while it was away.
   */
  const wakeReturned = async () => {
    const bySite = new Map<string, Watcher[]>();
    for (const w of watchers.values()) {
      if (!w.awaitingSite) continue;
      const same = bySite.get(w.awaitingSite);
      if (same) same.push(w);
      else bySite.set(w.awaitingSite, [w]);
    }
    for (const [siteId, waiting] of bySite) {
      if ((await d.store.listPresence(siteId)).length === 0) continue;
      d.log.info({ siteId, cameras: waiting.length }, "motion alerts: the site's agent is back");
      for (const w of waiting) w.wake();
    }
  };
  const tick = async () => {
    try {
      await reconcile(await claim.claim());
      await wakeReturned();
    } catch (e) {
      d.log.warn({ err: (e as Error).message }, "motion alerts: could not reconcile");
    }
  };
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  // A poke during a tick runs one more after it: the tick may have read the list before the
  // change that poked.
  const poke = () => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = tick().finally(() => {
      running = null;
      if (again) {
        again = false;
        poke();
      }
    });
  };
  const stopTicks = startLeaderTicks({
    store: d.store,
    owner: d.owner,
    locks: MOTION_SHARD_LOCKS,
    run: tick,
    everyMs: d.everyMs ?? 10_000,
    firstAfterMs: 1_000,
  });
  return {
    poke,
    async statuses(ids) {
      const out = new Map<string, MotionStatus>();
      const elsewhere: string[] = [];
      for (const id of ids) {
        const w = watchers.get(id);
        if (w) out.set(id, w.status);
        else elsewhere.push(id);
      }
      for (const { deviceId, watch: _, ...status } of await d.store.getMotionStatuses(elsewhere)) {
        out.set(deviceId, status);
      }
      return out;
    },
    async stop() {
      stopped = true;
      again = false;
      await running;
      await stopTicks();
      // A pull in flight ends within its deadline; the node does not wait that long to stop.
      const done = Promise.all([...watchers.keys()].map((id) => stopOne(id, false)));
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([done, new Promise((r) => timer = setTimeout(r, 2_000))]);
      clearTimeout(timer);
    },
  };
}
