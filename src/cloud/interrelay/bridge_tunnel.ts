/**
 * BridgeTunnel, the entry node's side (guide §5.3): when the agent chosen for a request holds its
 * control stream on another node, dial that node's internal endpoint (from presence) with this
 * node's internal-CA certificate, check the answer comes from a certificate of the internal CA
 * naming the owning node, send OPEN and hand back the framed connection as the tunnel's socket.
 * Any failure to reach or hear from the owner is "agent reconnecting" (503) and a counted bridge
 * failure; a refusal the owner reports (device unreachable, not allowlisted) keeps its code.
 * @module
 */
import * as tls from "node:tls";
import { Buffer } from "node:buffer";
import { AppError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import type { DiscoveryResult } from "../../shared/protocol/control.ts";
import type { OpenedTunnel } from "../control/tunnels.ts";
import { FramedConn, FrameType } from "./frames.ts";
import { BRIDGE_VERSION, type BridgeOpen, bridgeResult, resultError } from "./messages.ts";
import { bridgeBytes, bridgeFailures, bridgeOpens, bridgesOpen } from "../cloud_metrics.ts";

/** The internal CA certificate(s) to trust and this node's leaf on that CA. */
export interface InternalIdentity {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** The message of a refused OPEN (internal_listener.ts). */
export const OLDER_OWNER = "bad OPEN";

/**
 * Whether a refusal is the one a node answers an OPEN it cannot parse: from a sibling of an
 * older version, an `op` added since. The entry node then does it the older way.
 */
export function isOlderOwner(e: unknown): boolean {
  return e instanceof AppError && e.code === "bad_request" && e.message === OLDER_OWNER;
}

/** Where an agent lives: its owning node and that node's internal endpoint. */
export interface Owner {
  node: string;
  endpoint: string;
}

/** What the bridge client needs. */
export interface BridgeClientOptions {
  /** This node's name (sent in OPEN). */
  node: string;
  /** The internal CA(s) trusted and this node's leaf on it, read at each dial. */
  identity: () => InternalIdentity;
  /** How long the owner may take to open the tunnel (its agent's dial included). */
  openTimeoutMs: number;
  log: Logger;
}

/**
 * Counts one bridge opened out of this node (the opens counter and the open-bridges gauge);
 * returns its `done`, which takes it off the gauge once, however often it is called.
 */
function countedOpen(): () => void {
  bridgeOpens.inc({ side: "out" });
  bridgesOpen.inc({ side: "out" });
  let done = false;
  return () => {
    if (done) return;
    done = true;
    bridgesOpen.dec({ side: "out" });
  };
}

/** Opens BridgeTunnels to sibling nodes. */
export class BridgeClient {
  #o: BridgeClientOptions;
  #seq = 0;

  /** Creates a client with this node's identity. */
  constructor(o: BridgeClientOptions) {
    this.#o = o;
  }

  /** Opens a tunnel to (host, port) through `agentId`, whose control stream `owner` holds. */
  async openTunnel(
    owner: Owner,
    agentId: string,
    host: string,
    port: number,
  ): Promise<OpenedTunnel> {
    const { conn } = await this.#request(owner, {
      v: BRIDGE_VERSION,
      op: "tunnel",
      agentId,
      host,
      port,
      from: this.#o.node,
    });
    return {
      tunnelId: `br-${(++this.#seq).toString(36)}-${owner.node}`,
      agentId,
      socket: conn,
      done: countedOpen(),
    };
  }

  /**
   * Subscribes to the camera session `owner` plays (or starts) for (handle, path) through
   * `agentId`: resolves once the camera plays there, with the connection its feed arrives on
   * (interrelay/live_feed.ts). The owner's refusal keeps its code (the camera's 404, its
   * credentials); an owner of an older version, which knows no `live`, refuses with
   * {@linkcode OLDER_OWNER}. Call `done` once the subscription ended (the open-bridges gauge).
   */
  async openLive(
    owner: Owner,
    agentId: string,
    handleId: string,
    path: string,
    actor: string,
  ): Promise<{ conn: FramedConn; done: () => void }> {
    const { conn } = await this.#request(owner, {
      v: BRIDGE_VERSION,
      op: "live",
      agentId,
      handleId,
      path,
      actor,
      from: this.#o.node,
    });
    return { conn, done: countedOpen() };
  }

  /** Runs ONVIF discovery on an agent connected to `owner`. */
  async discover(owner: Owner, agentId: string, windowMs: number): Promise<DiscoveryResult> {
    const { conn, value } = await this.#request(owner, {
      v: BRIDGE_VERSION,
      op: "discover",
      agentId,
      windowMs,
      from: this.#o.node,
    }, windowMs);
    conn.close();
    return value as DiscoveryResult;
  }

  async #request(
    owner: Owner,
    open: BridgeOpen,
    extraMs = 0,
  ): Promise<{ conn: FramedConn; value: unknown }> {
    let conn: FramedConn | null = null;
    try {
      const socket = await this.#dial(owner);
      conn = new FramedConn(socket, (s, r) => bridgeBytes.inc({ side: "out" }, s + r));
      conn.sendControl(FrameType.OPEN, open);
      const answer = await conn.control(this.#o.openTimeoutMs + extraMs + 5_000);
      if (answer.type !== FrameType.RESULT) throw new Error("expected RESULT");
      const r = bridgeResult.parse(answer.body);
      if (!r.ok) {
        conn.close();
        conn = null;
        const err = resultError(r);
        if (err.detail?.peerCode) {
          this.#o.log.warn(
            { owner: owner.node, code: r.code, status: r.status, as: err.code },
            "the owning node refused with an error code this node does not know (a newer version)",
          );
        }
        throw err;
      }
      return { conn, value: r.value };
    } catch (e) {
      if (conn && !conn.isClosed) conn.close();
      if (e instanceof AppError) throw e;
      bridgeFailures.inc();
      this.#o.log.warn(
        { owner: owner.node, endpoint: owner.endpoint, err: (e as Error).message },
        "bridge to the owning node failed",
      );
      throw new AppError("agent_offline");
    }
  }

  #dial(owner: Owner): Promise<tls.TLSSocket> {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(owner.endpoint);
    if (!m) return Promise.reject(new Error(`bad internal endpoint "${owner.endpoint}"`));
    const id = this.#o.identity();
    return new Promise((resolve, reject) => {
      const socket = tls.connect({
        host: m[1],
        port: Number(m[2]),
        ca: [Buffer.from(id.caPem)],
        cert: Buffer.from(id.certPem),
        key: Buffer.from(id.keyPem),
        minVersion: "TLSv1.3",
        servername: "nanodems-internal",
        // Trust is the internal CA; identity is the node name presence points at, not an address.
        checkServerIdentity: (_host, cert) =>
          cert.subject?.CN === owner.node
            ? undefined
            : new Error(`internal endpoint answered as "${cert.subject?.CN}", not ${owner.node}`),
      });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error("connect timed out"));
      }, 5_000);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(socket);
      });
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }
}
