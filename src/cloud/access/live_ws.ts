/**
 * The live view's WebSocket `GET /api/live/{handle}?path=/stream`: the same access rules as the
 * tunnel endpoint and the RTSP gateway (session cookie only from the cloud's own origin, or a
 * bearer credential; tenant; CLI-session site scope — `authorizeTunnel`), decided before the
 * upgrade so a refusal is a plain HTTP status. The camera is reached through the agent's tunnel
 * and played once per (handle, path) for every viewer (live/hub.ts), with the cloud-held camera
 * credentials, by the node that holds the agent: a sibling subscribes to that node's session
 * (interrelay/live_feed.ts) rather than open a second one at the camera. After the upgrade the
 * first message is a JSON text `{type:"init", codec, width, height}` (and `speed`, the speed a
 * recording asked faster plays at: live/pace.ts), then the init segment and media segments as
 * binary messages; each viewer is registered in the live-access registry so revocation cuts it.
 * @module
 */
// @ts-types="@types/ws"
import type { WebSocket as WsSocket } from "ws";
import { z } from "zod";
import { AppError } from "../../shared/errors.ts";
import type { Principal } from "../tenancy/auth.ts";
import { type DeviceSecrets, useDeviceCredentials } from "../tenancy/device_secrets.ts";
import type { Feed, FeedSink, FeedSource, LiveHub, Viewer } from "../live/hub.ts";
import { silenceReason, startCameraFeed } from "../live/camera_feed.ts";
import { Pace, SPEEDS } from "../live/pace.ts";
import {
  type Authorized,
  type ChosenAgent,
  openTunnel,
  pickAgent,
  resolveHandle,
  type RouteDeps,
} from "./route.ts";
import type { Presence } from "../store/store.ts";
import { type BridgeClient, isOlderOwner } from "../interrelay/bridge_tunnel.ts";
import { remoteFeedSource } from "../interrelay/live_feed.ts";
import { authorizeTunnel } from "./tunnel_ws.ts";
import { slideOnConnect } from "../tenancy/session_slide.ts";
import { requireUpgradeProof } from "../tenancy/upgrade_proof.ts";
import { logStoreFailure } from "../store/outage.ts";
import { SOUND_CHECK_MS, soundChanged } from "./sound_setting.ts";

/** The refusal of a speed not offered. */
const SPEED_MESSAGE = `speed: ${SPEEDS.join(", ").replace(/, (\d+)$/, " or $1")} (times faster)`;

/** The path pattern of the live view endpoint. */
export const LIVE_PATH = /^\/api\/live\/([^/]+)$/;

/** What the live view needs besides routing. */
export interface LiveViewDeps {
  hub: LiveHub;
  secrets: DeviceSecrets;
}

/**
 * The query: the camera's stream path (as in its RTSP URL), printable ASCII; and, to play the
 * camera's recording rather than live, `from`: the instant to play it from (ISO 8601 UTC to the
 * second; `path` is then the camera's replay path, access/onvif_recording.ts), and `speed`: how
 * many times faster than it happened (live/pace.ts; 1, the default, as it happened).
 */
export const liveQuery = z.object({
  path: z.string().max(512).regex(
    /^\/[\x21-\x7e]*$/,
    "path must start with / and hold printable characters only",
  ).default("/"),
  from: z.string().regex(
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
    "from: an instant in UTC, as 2026-12-06T03:00:00Z",
  ).transform((t) => Date.parse(t)).refine(Number.isFinite, "from: not a date").optional(),
  speed: z.coerce.number({ error: SPEED_MESSAGE }).refine(
    (n) => (SPEEDS as readonly number[]).includes(n),
    SPEED_MESSAGE,
  ).default(1),
});

/** The live view's query read (liveQuery), or a 400 in words. */
export function liveAsk(query: Record<string, string>): z.infer<typeof liveQuery> {
  const q = liveQuery.safeParse(query);
  if (!q.success) throw new AppError("bad_request", q.error.issues[0]?.message);
  if (q.data.speed !== 1 && q.data.from === undefined) {
    throw new AppError(
      "bad_request",
      "speed: only a recording plays faster than it happens (give from)",
    );
  }
  return q.data;
}

/** A viewer authorized and its camera playing, waiting for the upgrade. */
export interface PreparedLive {
  principal: Principal;
  target: Authorized;
  feed: Feed;
  path: string;
  /** Where a recording is played from (ms), or undefined: live. */
  from?: number;
  /** How many times faster than it happened the recording was asked (1: live, or as it was). */
  speed: number;
  /** The client's address, as audited (tunnel_ws.ts `authorizeTunnel`). */
  client: string;
}

/**
 * The key of a camera session: one per (handle, stream path) in the deployment, played by the
 * node that holds the agent (the hub's key there; a sibling's subscription adds the owner); a
 * recording played from a time is a session of its own.
 */
export function liveKey(handleId: string, path: string, from?: number, speed = 1): string {
  return `${handleId} ${path}${from === undefined ? "" : ` from ${new Date(from).toISOString()}`}${
    speed === 1 ? "" : ` at ${speed}x`
  }`;
}

/** The camera's URL as the camera sees it. */
export function cameraUrl(host: string, port: number, path: string): string {
  return `rtsp://${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
}

/**
 * Authenticates, authorizes and joins (or opens) the camera session; throws AppError. `alone`:
 * a camera session of its own that no other viewer joins or shares (a clip saved from the
 * recording starts where it was asked, never at a picture another viewer's session is at), with
 * the recording asked as fast as the camera can send it, its one viewer pacing it. `upgrade`: a
 * WebSocket's handshake, whose browser session must offer its page's token before the camera is
 * asked (tenancy/upgrade_proof.ts); a download is a fetch, which the session's own checks cover.
 */
export async function prepareLive(
  d: RouteDeps & LiveViewDeps,
  req: Request,
  handle: string,
  remote: string,
  { alone = false, upgrade = false }: { alone?: boolean; upgrade?: boolean } = {},
): Promise<PreparedLive> {
  const { path, from, speed } = liveAsk(Object.fromEntries(new URL(req.url).searchParams));
  const { principal, target, client } = await authorizeTunnel(d, req, handle, remote);
  if (upgrade) await requireUpgradeProof(principal, req);
  const chosen = await pickAgent(d, target);
  // A recording is played here (through a bridged tunnel when a sibling holds the agent): it
  // starts where its viewer asked, so there is no session of a sibling's to share.
  const sibling = chosen.owner && d.bridge && from === undefined && !alone
    ? { owner: chosen.owner, bridge: d.bridge }
    : null;
  // A subscription to a sibling's session is a feed of its own here: only a camera played here
  // is the one a sibling joins (shareLive), so two nodes that each believe the other holds the
  // agent (presence not yet caught up) never subscribe to each other in a loop.
  const key = liveKey(target.handle.id, path, from, speed) +
    (sibling ? ` via ${sibling.owner.node}` : "") + (alone ? ` alone ${crypto.randomUUID()}` : "");
  const feed = await d.hub.acquire(key, async (sink) => {
    if (sibling) {
      // The node holding the agent plays the camera for the whole deployment: subscribe to it
      // (a camera's refusal there is remembered there, where every node reads it).
      const shared = await subscribe(
        d,
        sibling.bridge,
        sibling.owner,
        chosen.agentId,
        target,
        path,
        principal.actor,
        sink,
      );
      if (shared) return shared;
    }
    return await playCamera(d, target, path, principal.actor, sink, chosen, from, alone, speed);
  });
  // As on the other access paths, a successful connect slides a CLI session.
  if (principal.cliSessionHash) {
    await slideOnConnect(d, principal.cliSessionHash).catch((e) => {
      feed.release();
      throw e;
    });
  }
  return { principal, target, feed, path, from, speed, client };
}

/**
 * A sibling's viewer (interrelay/live_feed.ts): joins this node's camera session for
 * (handle, path), or plays the camera through `agentId`, which this node holds. The sibling
 * decided access; this node resolves the handle and uses the camera's credentials for `actor`.
 */
export async function shareLive(
  d: RouteDeps & LiveViewDeps,
  req: { agentId: string; handleId: string; path: string; actor: string },
): Promise<Feed> {
  const target = await resolveHandle(d, req.handleId);
  return await d.hub.acquire(
    liveKey(target.handle.id, req.path),
    (sink) => playCamera(d, target, req.path, req.actor, sink, { agentId: req.agentId }),
  );
}

/**
 * Subscribes to the camera session the agent's node plays; null when that node is of a version
 * that cannot share one (the caller then plays the camera here, through a bridged tunnel).
 */
async function subscribe(
  d: RouteDeps,
  bridge: BridgeClient,
  owner: Presence,
  agentId: string,
  target: Authorized,
  path: string,
  actor: string,
  sink: FeedSink,
): Promise<FeedSource | null> {
  let sub;
  try {
    sub = await bridge.openLive(owner, agentId, target.handle.id, path, actor);
  } catch (e) {
    if (isOlderOwner(e)) return null;
    throw e;
  }
  const src = remoteFeedSource(sub.conn, sink, (why) =>
    d.log.warn(
      { owner: owner.node, handle: target.handle.id, path, err: why },
      "a sibling node sent a live feed this node cannot read",
    ));
  src.ended.finally(sub.done);
  forgetFailure(d, liveKey(target.handle.id, path));
  if (target.handle.agentId === null) {
    await d.store.pinHandle(target.handle.id, agentId).catch((e) => {
      src.close();
      throw e;
    });
  }
  return src;
}

/**
 * Plays the camera on this node, through the tunnel the chosen agent opens. Once it plays, any
 * node's memory of the last failure is out of date and goes; the camera's refusal is kept where
 * every node reads it, since the browser whose upgrade it refused asks why, maybe of another node.
 */
async function playCamera(
  d: RouteDeps & LiveViewDeps,
  target: Authorized,
  path: string,
  actor: string,
  sink: FeedSink,
  chosen: ChosenAgent,
  from?: number,
  fast = false,
  speed = 1,
): Promise<FeedSource> {
  const key = liveKey(target.handle.id, path, from, speed);
  const pace = speed === 1 ? undefined : new Pace(speed);
  const tunnel = await openTunnel(d, target, "live", chosen);
  const release = () => {
    try {
      tunnel.socket.close();
    } catch { /* closed */ }
    tunnel.done();
    const s = d.registry.get(tunnel.agentId);
    if (s) s.activeStreams = Math.max(0, s.activeStreams - 1);
  };
  try {
    const src = await startCameraFeed(
      tunnel.socket,
      cameraUrl(target.device.host, target.handle.port, path),
      () =>
        useDeviceCredentials(d.store, d.secrets, {
          tenantId: target.handle.tenantId,
          deviceId: target.device.id,
          actor,
          via: "live",
          handle: target.handle.id,
        }),
      sink,
      {
        now: () => d.clock.now(),
        replayFrom: from,
        fast,
        sound: target.device.liveSound,
        ...(pace ? { pace } : {}),
      },
    );
    forgetFailure(d, key);
    let changed: string | null = null;
    const soundCheck = setInterval(() => {
      d.store.getDevice(target.handle.tenantId, target.device.id).then((dev) => {
        if (!dev || dev.liveSound === target.device.liveSound || changed) return;
        changed = soundChanged(dev.liveSound);
        src.close();
      }).catch(() => {/* the store is out: the session plays on as it was set up */});
    }, SOUND_CHECK_MS);
    const ended = src.ended.then((reason) => changed ?? reason);
    ended.finally(() => clearInterval(soundCheck));
    // A camera that went silent is worth a line for ops: the viewers only see "reconnecting".
    src.ended.then((reason) => {
      if (reason === silenceReason()) {
        d.log.warn({ handle: target.handle.id, path, reason }, "camera session ended");
      }
    });
    return {
      ended,
      fast: src.fast,
      close: () => {
        clearInterval(soundCheck);
        src.close();
        release();
      },
    };
  } catch (e) {
    release();
    if (e instanceof AppError) {
      await d.store.putLiveFailure({ key, code: e.code, message: e.message }).catch((err) =>
        logStoreFailure(d.log, err, "live view failure not stored")
      );
    }
    throw e;
  }
}

/** The camera session `key` plays: a failure remembered for it is out of date. */
function forgetFailure(d: RouteDeps, key: string): void {
  d.store.deleteLiveFailure(key).catch((e) =>
    logStoreFailure(d.log, e, "live view failure not forgotten")
  );
}

/** After the upgrade: attach the viewer, audit, register for revocation. */
export function serveLive(d: RouteDeps, p: PreparedLive, ws: WsSocket): void {
  const started = d.clock.now();
  const audit = (action: string, detail: Record<string, unknown>) =>
    d.store.appendAudit({
      tenantId: p.target.handle.tenantId,
      actor: p.principal.actor,
      action,
      target: p.target.handle.id,
      detail: {
        device: p.target.device.id,
        port: p.target.handle.port,
        via: p.principal.kind,
        path: "live",
        stream: p.path,
        ...(p.from === undefined ? {} : { recordingFrom: new Date(p.from).toISOString() }),
        ...(p.speed === 1 ? {} : { speed: p.speed }),
        ...(p.principal.auditUser ? { user: p.principal.auditUser } : {}),
        ...detail,
      },
    }).catch((e) => d.log.error({ err: (e as Error).message }, "audit write failed"));
  const close = (code: number, reason: string) => {
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason);
  };
  let sentOrigin: number | null = null;
  const viewer: Viewer = {
    init: (i) => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify({
        type: "init",
        codec: i.codec,
        width: i.width,
        height: i.height,
        // The speed the recording plays at: the one asked, or 1 when the camera sends only as
        // it plays (it did not answer Rate-Control: no).
        ...(p.speed === 1 ? {} : { speed: p.feed.fast ? p.speed : 1 }),
      }));
      ws.send(i.bytes);
    },
    send: (s) => {
      if (ws.readyState !== ws.OPEN) return;
      // The stream's origin is known (and refined) only once pictures flow: tell the page.
      if (p.feed.originMs !== sentOrigin) {
        sentOrigin = p.feed.originMs;
        ws.send(JSON.stringify({ type: "origin", originMs: sentOrigin }));
      }
      ws.send(s.bytes);
    },
    buffered: () => ws.bufferedAmount,
    close: (reason) => close(1011, reason),
  };
  const unlive = d.live?.add(p.principal, (reason) => close(1008, reason));
  audit("live.open", { remote: p.client });
  ws.on("message", () => {}); // viewers have nothing to say
  ws.on("close", () => {
    unlive?.();
    p.feed.detach(viewer);
    audit("live.close", { durationMs: d.clock.now() - started });
  });
  p.feed.attach(viewer);
}
