/**
 * The internal listener (guide §5.2, `--internal`, default :7443): mTLS that accepts only
 * certificates of the internal CA — sibling cloud nodes, never agents (the agent CA shares no
 * trust with it). Each connection carries one BridgeTunnel (proto/bridge.md): an OPEN asking this
 * node to open a tunnel to an agent whose control stream it holds (or to run ONVIF discovery on
 * it, or to share the live view's camera session it plays through it), a RESULT, then framed bytes
 * both ways with a credit window. Refused handshakes are audited.
 * @module
 */
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import type { ListenAddress } from "../../shared/cli.ts";
import type { Logger } from "../../shared/log.ts";
import { AppError } from "../../shared/errors.ts";
import type { DiscoveryResult } from "../../shared/protocol/control.ts";
import { pipeConns } from "../../shared/transport/pipe.ts";
import type { Store } from "../store/store.ts";
import { auditRefusedCertificate } from "../control/refused_certificate.ts";
import { FramedConn, FrameType } from "./frames.ts";
import { type InternalIdentity, OLDER_OWNER } from "./bridge_tunnel.ts";
import { feedForwarder } from "./live_feed.ts";
import type { Feed } from "../live/hub.ts";
import type { OpenedTunnel } from "../control/tunnels.ts";
import { type BridgeOpen, bridgeOpen, failureResult } from "./messages.ts";
import { bridgeBytes, bridgeOpens, bridgesOpen } from "../cloud_metrics.ts";

/** A running internal listener. */
export interface InternalListener {
  port: number;
  close(): Promise<void>;
}

/** What the internal listener needs. */
export interface InternalListenerOptions {
  listen: ListenAddress;
  /**
   * The internal CA(s) — the only issuers whose client certificates are accepted — and this
   * node's leaf; re-read every second so a renewal or rotation phase reaches new connections
   * before the operator moves a sibling to the next phase.
   */
  identity: () => InternalIdentity;
  node: string;
  /** Opens a tunnel through an agent connected to this node. */
  openLocal(agentId: string, host: string, port: number): Promise<OpenedTunnel>;
  /** A bridged tunnel through a local agent ended (its session's stream count drops). */
  closedLocal(agentId: string): void;
  /** Runs discovery on an agent connected to this node. */
  discoverLocal(agentId: string, windowMs: number): Promise<DiscoveryResult>;
  /**
   * Joins (or starts, through a local agent) this node's camera session for a sibling's viewer:
   * resolves with the feed, a reference taken, once the camera plays (interrelay/live_feed.ts).
   */
  openLive(
    req: { agentId: string; handleId: string; path: string; actor: string },
  ): Promise<Feed>;
  store: Store;
  log: Logger;
}

/** Starts the internal listener. */
export async function startInternalListener(
  o: InternalListenerOptions,
): Promise<InternalListener> {
  const open = new Set<tls.TLSSocket>();
  const contextOf = (id: InternalIdentity) => ({
    key: Buffer.from(id.keyPem),
    cert: Buffer.from(id.certPem),
    ca: [Buffer.from(id.caPem)],
  });
  let current = o.identity();
  const server = tls.createServer({
    ...contextOf(current),
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  }, (socket) => {
    // As the dialing side does (bridge_tunnel.ts): this side writes the device's bytes, where a
    // small write behind an unacknowledged one would otherwise wait for the sibling's delayed
    // ACK (Nagle). A live picture is one write and measured the same either way (README).
    socket.setNoDelay(true);
    open.add(socket);
    socket.on("close", () => open.delete(socket));
    serve(o, socket).catch((e) => {
      o.log.debug({ err: (e as Error).message }, "bridge ended with an error");
    });
  });
  server.on(
    "tlsClientError",
    (err: Error, socket: tls.TLSSocket) =>
      auditRefusedCertificate(o, "internal", socket?.remoteAddress, err),
  );
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.listen.port, o.listen.hostname, () => {
      server.off("error", reject);
      resolve((server.address() as { port: number }).port);
    });
  });
  const refresh = setInterval(() => {
    const next = o.identity();
    if (next.certPem === current.certPem && next.caPem === current.caPem) return;
    try {
      server.setSecureContext(contextOf(next));
      current = next;
      o.log.info("internal listener took the renewed node certificate / internal CA");
    } catch (e) {
      o.log.warn({ err: (e as Error).message }, "internal listener kept its certificate");
    }
  }, 1_000);
  return {
    port,
    close() {
      clearInterval(refresh);
      for (const s of open) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function serve(o: InternalListenerOptions, socket: tls.TLSSocket): Promise<void> {
  const peer = String(socket.getPeerCertificate()?.subject?.CN ?? "");
  const conn = new FramedConn(socket, (s, r) => bridgeBytes.inc({ side: "in" }, s + r));
  let msg;
  try {
    const first = await conn.control(10_000);
    if (first.type !== FrameType.OPEN) throw new Error("first frame must be OPEN");
    msg = bridgeOpen.parse(first.body);
  } catch (e) {
    o.log.warn({ peer, err: (e as Error).message }, "bridge refused: bad OPEN");
    conn.sendControl(FrameType.RESULT, failureResult(new AppError("bad_request", OLDER_OWNER)));
    socket.end();
    return;
  }
  if (msg.op === "discover") {
    try {
      const value = await o.discoverLocal(msg.agentId, msg.windowMs);
      conn.sendControl(FrameType.RESULT, { ok: true, value });
    } catch (e) {
      conn.sendControl(FrameType.RESULT, failure(e));
    }
    socket.end();
    return;
  }
  if (msg.op === "live") return await serveLive(o, conn, socket, msg, peer);
  const tunnel = await answer(conn, socket, () => o.openLocal(msg.agentId, msg.host, msg.port));
  if (!tunnel) return;
  o.log.debug({ peer, from: msg.from, agent: msg.agentId, tunnel: tunnel.tunnelId }, "bridge open");
  try {
    await pipeConns(conn, tunnel.socket);
  } finally {
    bridgesOpen.dec({ side: "in" });
    tunnel.done();
    o.closedLocal(msg.agentId);
  }
}

/**
 * A sibling's viewer of a camera this node plays: the feed's forwarder is one more viewer here,
 * detached when the sibling goes (its last viewer left, or it stopped) or the session ends.
 */
async function serveLive(
  o: InternalListenerOptions,
  conn: FramedConn,
  socket: tls.TLSSocket,
  msg: Extract<BridgeOpen, { op: "live" }>,
  peer: string,
): Promise<void> {
  const feed = await answer(conn, socket, () => o.openLive(msg));
  if (!feed) return;
  o.log.debug({ peer, from: msg.from, handle: msg.handleId, path: msg.path }, "live feed shared");
  const { viewer, done } = feedForwarder(conn);
  try {
    feed.attach(viewer);
    await done;
  } finally {
    feed.detach(viewer);
    bridgesOpen.dec({ side: "in" });
    if (!conn.isClosed) conn.close();
  }
}

/**
 * Runs what the OPEN asked for and answers it: RESULT ok (the bridge counted open) with what it
 * opened, or the refusal, the connection ended and null.
 */
async function answer<T>(
  conn: FramedConn,
  socket: tls.TLSSocket,
  open: () => Promise<T>,
): Promise<T | null> {
  let opened: T;
  try {
    opened = await open();
  } catch (e) {
    conn.sendControl(FrameType.RESULT, failure(e));
    socket.end();
    return null;
  }
  conn.sendControl(FrameType.RESULT, { ok: true });
  bridgeOpens.inc({ side: "in" });
  bridgesOpen.inc({ side: "in" });
  return opened;
}

function failure(e: unknown): ReturnType<typeof failureResult> {
  return failureResult(e instanceof AppError ? e : new AppError("agent_offline"));
}
