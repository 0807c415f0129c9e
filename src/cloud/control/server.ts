/**
 * The control listener: gRPC over mTLS (agent CA) on the control port. It accepts a stream only
 * from a registered, non-revoked agent whose certificate CN matches its Hello, then sends
 * Welcome, its certificate policy and the site's allowlist before asking it for a data
 * connection (so no tunnel OPEN can overtake its first allowlist), keeps presence fresh on each
 * heartbeat, relays tunnel results to the broker, and can cut an agent off at once (revocation).
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { AgentMessage } from "../../shared/protocol/control.ts";
import { type ControlCall, startControlRelay } from "./relay.ts";
import {
  HEARTBEAT_MS,
  MIN_AGENT_PROTOCOL,
  PRESENCE_TTL_MS,
  PROTOCOL_VERSION,
} from "../../shared/protocol/wire.ts";
import type { ListenAddress } from "../../shared/cli.ts";
import type { Logger } from "../../shared/log.ts";
import type { Clock } from "../../shared/clock.ts";
import type { Allowlist, Store } from "../store/store.ts";
import { AppError } from "../../shared/errors.ts";
import { isStoreOutage, logStoreFailure } from "../store/outage.ts";
import type { AgentSession, Registry } from "./registry.ts";
import type { TunnelBroker } from "./tunnels.ts";
import { DiscoveryRequests } from "./discovery.ts";
import { auditRefusedCertificate } from "./refused_certificate.ts";
import { clip } from "../../shared/clip.ts";
import { auditAnonymousRefusal } from "../tenancy/anonymous_audit.ts";
import type { DiscoveryResult, ReachabilityReport } from "../../shared/protocol/control.ts";
import type { CertRenewal } from "./cert_renewal.ts";
import type { TlsIdentity } from "./tls_identity.ts";
import { timeSlicer } from "../../shared/time_slice.ts";
import { CoalescedRuns } from "./coalesce.ts";

/** A running control listener. */
export interface ControlServer {
  port: number;
  /** Pushes the site's current allowlist to its agents connected here that lack it. */
  pushAllowlist(siteId: string): Promise<void>;
  /** Sends every agent connected here its certificate policy (the agent CA rotated). */
  pushCertificatePolicy(): Promise<void>;
  /** Ends an agent's stream now (e.g. revoked) and cuts its tunnels. */
  kick(agentId: string, reason: string): void;
  /** Asks an agent connected here to run ONVIF discovery for `windowMs` (AppError if gone). */
  discover(agentId: string, windowMs: number): Promise<DiscoveryResult>;
  close(): Promise<void>;
}

/** Dependencies of the control listener. */
export interface ControlServerOptions {
  listen: ListenAddress;
  /** The server key pair and the agent CA; replaceable while running (renewal). */
  identity: TlsIdentity;
  node: string;
  /** Sibling-reachable endpoint of this node ("" in single-node). */
  endpoint: string;
  dataPort: () => number;
  store: Store;
  registry: Registry;
  broker: TunnelBroker;
  clock: Clock;
  log: Logger;
  /** Certificate checks at Hello and renewals on the stream. */
  certs: CertRenewal;
  /** Records an agent's device reachability report (none: reports are ignored). */
  onReachability?: (s: AgentSession, report: ReachabilityReport) => Promise<unknown>;
  /** An agent could not open a data connection (after its retries; `reason` bounded, one line). */
  onDataDialFailed?: (s: AgentSession, reason: string) => Promise<unknown>;
}

type Call = ControlCall;

/** HTTP/2 streams one agent connection may hold at once (an agent needs one, two in a swap). */
export const MAX_STREAMS_PER_CONNECTION = 4;
/** Control streams one certificate may hold at once, across connections. */
export const MAX_STREAMS_PER_CERTIFICATE = 4;
/** The largest control message accepted (the biggest legitimate one is a discovery result). */
export const MAX_CONTROL_MESSAGE_BYTES = 1 << 20;
/** The most characters a Hello's hostname, version and os may carry together. */
export const MAX_HELLO_CHARS = 4096;

/** Starts the control listener. */
export async function startControlServer(o: ControlServerOptions): Promise<ControlServer> {
  // The listener's gRPC options; the listener itself runs in the control relay process.
  const options: grpc.ServerOptions = {
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    "grpc.max_concurrent_streams": MAX_STREAMS_PER_CONNECTION,
    "grpc.max_receive_message_length": MAX_CONTROL_MESSAGE_BYTES,
  };
  const streamsPerCn = new Map<string, number>();

  const discoveries = new DiscoveryRequests();
  // Sessions whose Hello has sent Welcome and the first allowlist; a push to one still saying
  // Hello is left to its Hello, which reads again if one came meanwhile (see onHello).
  const welcomed = new WeakSet<AgentSession>();
  const pushedDuringHello = new WeakSet<AgentSession>();
  const sendAllowlist = (s: AgentSession, al: Allowlist) => {
    if (al.version <= s.allowlistVersion) return;
    s.allowlistVersion = al.version;
    s.send({ allowlist: { version: al.version, entries: al.entries } });
    o.log.debug({ agent: s.agentId, version: al.version }, "allowlist pushed");
  };
  const pushTo = async (s: AgentSession) => {
    if (!welcomed.has(s)) {
      pushedDuringHello.add(s);
      return;
    }
    sendAllowlist(s, await o.store.getAllowlist(s.siteId));
  };
  // A site's push reads its allowlist once for all of its agents here, and a burst of changes
  // (an integration adding cameras one by one) coalesces into a push under way and one after it.
  const sitePushes = new CoalescedRuns<string>(async (siteId) => {
    const ready = [];
    for (const s of o.registry.bySite(siteId)) {
      if (welcomed.has(s)) ready.push(s);
      else pushedDuringHello.add(s);
    }
    if (!ready.length) return;
    const al = await o.store.getAllowlist(siteId);
    for (const s of ready) sendAllowlist(s, al);
  });

  const connect = (call: Call) => {
    const cn = String(call.getAuthContext()?.sslPeerCertificate?.subject?.CN ?? "");
    let session: AgentSession | null = null;
    let ended = false;
    let queue = Promise.resolve();
    const deny = (code: number, details: string) => {
      if (ended) return;
      ended = true;
      clearTimeout(helloTimer);
      call.emit("error", { code, details, metadata: new grpc.Metadata() });
    };
    const helloTimer = setTimeout(
      () => deny(grpc.status.INVALID_ARGUMENT, "expected Hello within 10 s"),
      10_000,
    );
    // Streams per certificate are bounded: a valid certificate cannot pile up idle streams.
    let counted = false;
    const uncount = () => {
      if (!counted) return;
      counted = false;
      const n = (streamsPerCn.get(cn) ?? 1) - 1;
      if (n > 0) streamsPerCn.set(cn, n);
      else streamsPerCn.delete(cn);
    };
    if ((streamsPerCn.get(cn) ?? 0) >= MAX_STREAMS_PER_CERTIFICATE) {
      o.log.warn({ cn: clip(cn) }, "control stream refused: too many streams for one certificate");
      call.on("error", () => {}); // the refusal below is emitted as "error"; nothing to clean up
      deny(grpc.status.RESOURCE_EXHAUSTED, "too many control streams for this certificate");
      return;
    }
    streamsPerCn.set(cn, (streamsPerCn.get(cn) ?? 0) + 1);
    counted = true;

    // An unknown or revoked CN is cut before anything it sends is read.
    const admitCn = async () => {
      const agent = cn ? await o.store.getAgent(cn) : null;
      if (agent && agent.revokedAt === null) return agent;
      const action = agent ? "agent.reject_revoked" : "agent.reject_unregistered_cn";
      // Sampled per certificate: a refused agent retrying must not fill the audit log.
      if (auditAnonymousRefusal(o.store, `cn:${cn}`, o.clock.now())) {
        await o.store.appendAudit({
          tenantId: agent?.tenantId ?? null,
          actor: `cn:${cn}`,
          action,
          target: cn,
          detail: { node: o.node },
        });
      }
      o.log.warn({ cn: clip(cn), action }, "control stream refused");
      deny(grpc.status.PERMISSION_DENIED, agent ? "agent revoked" : "unknown CN");
      return null;
    };
    const admitted = admitCn();

    const onHello = async (m: AgentMessage) => {
      if (m.msg !== "hello" || !m.hello) {
        return deny(grpc.status.INVALID_ARGUMENT, "first message must be Hello");
      }
      clearTimeout(helloTimer);
      const agent = await admitted;
      if (!agent || ended) return;
      const raw = m.hello;
      if (raw.hostname.length + raw.version.length + raw.os.length > MAX_HELLO_CHARS) {
        return deny(grpc.status.INVALID_ARGUMENT, "Hello too large");
      }
      const hello = {
        ...raw,
        hostname: clip(raw.hostname),
        version: clip(raw.version),
        os: clip(raw.os),
      };
      if (hello.agentId && hello.agentId !== cn) {
        return deny(grpc.status.PERMISSION_DENIED, "agent id does not match certificate CN");
      }
      if (hello.protocol < MIN_AGENT_PROTOCOL) {
        o.log.warn({ cn, protocol: hello.protocol }, "control stream refused: agent too old");
        return deny(
          grpc.status.FAILED_PRECONDITION,
          `agent protocol ${hello.protocol} is too old (the cloud speaks ${PROTOCOL_VERSION} and serves agents from ${MIN_AGENT_PROTOCOL}); update the agent`,
        );
      }
      const cert = await o.certs.hello(agent, peerDer(call));
      if (cert.refused) return deny(cert.refused.grpcStatus, cert.refused.message);
      if (ended) return;
      const s: AgentSession = {
        agentId: agent.id,
        tenantId: agent.tenantId,
        siteId: agent.siteId,
        connectedAt: o.clock.now(),
        activeStreams: 0,
        bytesUp: 0,
        bytesDown: 0,
        tunnelsOpened: 0,
        allowlistVersion: 0,
        version: hello.version,
        protocol: hello.protocol,
        hostname: hello.hostname,
        os: hello.os,
        send: (msg) => {
          if (!ended) call.write(msg);
        },
        close: (code, reason) => {
          deny(code, reason);
          cleanup();
        },
      };
      session = s;
      const prev = o.registry.add(s);
      prev?.close(grpc.status.ABORTED, "replaced by a newer connection of the same agent");
      // Presence before Welcome: once the agent hears Welcome (and logs "control stream up"),
      // every node reading the store can route to it — a request entering another node a
      // moment later must not be told "agent reconnecting".
      await o.store.putPresence(presenceOf(s), PRESENCE_TTL_MS);
      // The allowlist and the certificate policy precede the first OpenData, back to back after
      // Welcome: a restarted agent holds no allowlist, and a tunnel OPEN on the data connection
      // it dials must not overtake the list ("target not in allowlist" for a listed device).
      // Read after the registry holds the session: a change committed later is pushed again.
      const [al, policy] = await Promise.all([
        o.store.getAllowlist(s.siteId),
        o.certs.policy(s.agentId, cert.renewNow),
      ]);
      if (ended) return;
      s.send({
        welcome: {
          node: o.node,
          dataPort: o.dataPort(),
          heartbeatMs: HEARTBEAT_MS,
          protocol: PROTOCOL_VERSION,
        },
      });
      s.send({ certificatePolicy: policy });
      sendAllowlist(s, al);
      welcomed.add(s);
      o.broker.agentConnected(s.agentId);
      if (pushedDuringHello.delete(s)) await pushTo(s);
      if (
        agent.hostname !== hello.hostname || agent.version !== hello.version ||
        agent.os !== hello.os
      ) {
        await o.store.updateAgentInfo(agent.id, {
          hostname: hello.hostname,
          version: hello.version,
          os: hello.os,
        });
      }
      o.log.info(
        {
          agent: s.agentId,
          site: s.siteId,
          hostname: hello.hostname,
          version: hello.version,
          certSerial: cert.serial,
        },
        "agent connected",
      );
    };

    const presenceOf = (s: AgentSession) => ({
      agentId: s.agentId,
      tenantId: s.tenantId,
      siteId: s.siteId,
      node: o.node,
      endpoint: o.endpoint,
      activeStreams: s.activeStreams,
      bytesUp: s.bytesUp,
      bytesDown: s.bytesDown,
      dataBlocked: s.dataBlocked ?? "",
    });

    const onMessage = async (m: AgentMessage) => {
      if (!session) return onHello(m);
      const s = session;
      switch (m.msg) {
        case "heartbeat": {
          const hb = m.heartbeat!;
          s.activeStreams = hb.activeStreams;
          s.bytesUp = hb.bytesUp;
          s.bytesDown = hb.bytesDown;
          s.tunnelsOpened = hb.tunnelsOpened;
          await o.store.putPresence(presenceOf(s), PRESENCE_TTL_MS);
          if (hb.day) {
            await o.store.recordAgentCounters({
              agentId: s.agentId,
              tenantId: s.tenantId,
              day: hb.day,
              bytesUp: hb.bytesUp,
              bytesDown: hb.bytesDown,
              tunnels: hb.tunnelsOpened,
            });
          }
          break;
        }
        case "discoveryResult":
          discoveries.result(s.agentId, m.discoveryResult!);
          break;
        case "reachability":
          await o.onReachability?.(s, m.reachability!);
          break;
        case "dataDialFailed": {
          const f = m.dataDialFailed!;
          // Peer text: bounded, one line (it reaches operators in the open's error).
          // deno-lint-ignore no-control-regex -- removing control characters is the point
          const reason = clip(f.reason.replace(/[\x00-\x1f\x7f]+/g, " ").trim() || "dial failed");
          o.log.warn({ agent: s.agentId, reason }, "agent could not open a data connection");
          o.broker.dataDialFailed(s.agentId, f.ticket, reason);
          await o.onDataDialFailed?.(s, reason);
          // The console reads it from presence: now, not at the next heartbeat.
          await o.store.putPresence(presenceOf(s), PRESENCE_TTL_MS);
          break;
        }
        case "tunnelResult":
        case "tunnelClosed":
          break; // protocol 1 only: tunnels now open and close on the data connections
        case "renewRequest":
          s.send({ renewResult: await o.certs.renew(s.agentId, m.renewRequest!.csr) });
          break;
        default:
          o.log.debug({ agent: s.agentId, msg: m.msg }, "ignored control message");
      }
    };

    const cleanup = () => {
      ended = true;
      clearTimeout(helloTimer);
      uncount();
      const s = session;
      if (!s) return;
      session = null;
      if (o.registry.remove(s)) {
        o.broker.agentGone(s.agentId);
        discoveries.agentGone(s.agentId);
        o.store.deletePresence(s.agentId, o.node).catch(() => {}); // the lease expires anyway
        o.log.info({ agent: s.agentId }, "agent disconnected");
      }
    };

    call.on("data", (m: AgentMessage) => {
      if (ended) return;
      queue = queue.then(() => onMessage(m)).catch((e) => {
        logStoreFailure(o.log, e, "control message failed", { cn });
        // A Hello that could not be checked (store unreachable) is refused, never admitted: the
        // agent retries with its backoff. An established stream outlives the outage; a missed
        // presence refresh is written again on the next heartbeat.
        if (!session || !welcomed.has(session)) {
          if (isStoreOutage(e)) deny(grpc.status.UNAVAILABLE, (e as Error).message);
          else deny(grpc.status.INTERNAL, "internal error");
        }
      });
    });
    call.on("end", () => {
      cleanup();
      call.end();
    });
    call.on("error", () => cleanup());
    call.on("cancelled", () => cleanup());
    call.on("close", () => cleanup());
  };

  /** The DER of the agent's certificate as the TLS stack saw it, or null. */
  const peerDer = (call: Call): Uint8Array | null => {
    const raw = (call.getAuthContext()?.sslPeerCertificate as { raw?: Uint8Array } | undefined)
      ?.raw;
    return raw instanceof Uint8Array ? raw : null;
  };

  const relay = await startControlRelay({
    host: o.listen.hostname,
    port: o.listen.port,
    identity: o.identity,
    options,
    connect,
    log: o.log,
    onRefused: (remote, reason) => auditRefusedCertificate(o, "control", remote, new Error(reason)),
  });

  return {
    get port() {
      return relay.port;
    },
    pushAllowlist(siteId) {
      return sitePushes.request(siteId);
    },
    async pushCertificatePolicy() {
      const slice = timeSlicer();
      for (const s of o.registry.all()) {
        await slice();
        s.send({ certificatePolicy: await o.certs.policy(s.agentId) });
      }
    },
    discover(agentId, windowMs) {
      const s = o.registry.get(agentId);
      if (!s) return Promise.reject(new AppError("agent_offline"));
      return discoveries.request(s, windowMs);
    },
    kick(agentId, reason) {
      o.registry.get(agentId)?.close(grpc.status.PERMISSION_DENIED, reason);
      o.broker.killAgent(agentId);
    },
    async close() {
      for (const s of o.registry.all()) s.close(grpc.status.UNAVAILABLE, "cloud shutting down");
      await relay.close();
    },
  };
}
