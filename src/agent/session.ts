/**
 * One control session: dial the cloud's control endpoint over mTLS with the agent certificate
 * (the server must chain to the pinned CA and match the endpoint's name), send Hello, then
 * follow the cloud: Welcome, allowlist pushes, tunnel opens. Heartbeats go out every few
 * seconds with the live counters. The session ends when the stream does; the supervisor
 * decides what happens next. The session dials along its route (the Happy Eyeballs winner or the
 * proxy, see cloud_route.ts); certificates are checked against the endpoint's host name.
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { hostname } from "node:os";
import * as net from "node:net";
import * as tls from "node:tls";
import { controlServiceDefinition } from "../shared/protocol/control.ts";
import type { AgentMessage, CloudMessage } from "../shared/protocol/control.ts";
import {
  DATA_SERVER_NAME,
  DATA_SERVER_NAME_PROTOCOL,
  GROWING_WINDOWS_PROTOCOL,
  HEARTBEAT_MS,
  PROTOCOL_VERSION,
} from "../shared/protocol/wire.ts";
import { VERSION } from "../shared/version.ts";
import type { Logger } from "../shared/log.ts";
import type { AgentState } from "./state.ts";
import type { Allowlist } from "./allowlist.ts";
import type { Stats } from "./stats.ts";
import type { DataPool } from "./data_pool.ts";
import type { CloudRoute } from "./cloud_route.ts";
import { discoveryWindow, probeOnvif, type ProbeTarget } from "./discovery/probe.ts";
import type { CertRenewer } from "./renewal.ts";
import type { ReachabilityMonitor } from "./reachability.ts";

/** SNI name sent when the control endpoint is an IP literal. */
const CONTROL_SNI = "control.nanodems.invalid";

const ControlClient = grpc.makeGenericClientConstructor(controlServiceDefinition, "Control");

/** How a session ended. */
export interface SessionEnd {
  /** Whether the cloud accepted us (Welcome received) before the end. */
  welcomed: boolean;
  /** gRPC status code of the end (0 for a clean end). */
  code: number;
  /** Human-readable reason. */
  reason: string;
}

/** A running session. */
export interface Session {
  /** Resolves when the stream ends. */
  done: Promise<SessionEnd>;
  /** Ends the session now. */
  close(): void;
}

/** Splits "host:port" / "[v6]:port". */
export function splitEndpoint(ep: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(ep.trim());
  if (!m) throw new Error(`bad endpoint "${ep}"`);
  return { host: m[1] ?? m[2], port: Number(m[3]) };
}

/** Splits a comma-separated list of control endpoints ("HOST:PORT,HOST:PORT"). */
export function splitEndpoints(list: string): { host: string; port: number }[] {
  return list.split(",").filter((e) => e.trim()).map(splitEndpoint);
}

/** Starts a session. */
export function startSession(o: {
  state: AgentState;
  allowlist: Allowlist;
  stats: Stats;
  log: Logger;
  /** The agent's data connections; OpenData adds one. */
  dataPool: DataPool;
  /** How to reach the cloud this session (see cloud_route.ts). */
  route: CloudRoute;
  /** Where discovery probes go (default: the WS-Discovery multicast groups). */
  discoveryTargets?: ProbeTarget[];
  onWelcome?: (node: string) => void;
  /** Renews the certificate over this session (none: no renewal). */
  renewer?: CertRenewer;
  /** Device reachability: its view goes out after Welcome, then its changes. */
  reachability?: ReachabilityMonitor;
}): Session {
  const { host, port } = o.route;
  const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const bracket = (a: string) => a.includes(":") ? `[${a}]` : a;
  // Direct: dial the race winner's address. Proxy: dial the proxy, which CONNECTs to the host.
  const target = o.route.proxy
    ? `${bracket(o.route.proxy.host)}:${o.route.proxy.port}`
    : `${bracket(o.route.address?.address ?? host)}:${port}`;
  // The server must chain to the pinned CA AND name the endpoint's host (IP SAN for an IP).
  const creds = grpc.credentials.createSsl(
    Buffer.from(o.state.caPem),
    Buffer.from(o.state.keyPem),
    Buffer.from(o.state.certPem),
    { checkServerIdentity: (_name, cert) => tls.checkServerIdentity(host, cert) },
  );
  const routeOptions: grpc.ChannelOptions = {
    // Never let grpc-js read proxy variables itself: the proxy is the route's, opt-in only.
    "grpc.enable_http_proxy": 0,
    "grpc.default_authority": authority,
    // TLS forbids an IP address as SNI server name; send a fixed name, verify the IP above.
    "grpc.ssl_target_name_override": net.isIP(host) ? CONTROL_SNI : host,
    ...(o.route.proxy
      ? {
        "grpc.http_connect_target": `dns:${authority}`,
        ...(o.route.proxy.auth
          ? {
            "grpc.http_connect_creds":
              `${o.route.proxy.auth.username}:${o.route.proxy.auth.password}`,
          }
          : {}),
      }
      : {}),
  };
  const client = new ControlClient(target, creds, {
    ...routeOptions,
    "grpc.keepalive_time_ms": 20_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.initial_reconnect_backoff_ms": 1_000,
    "grpc.max_reconnect_backoff_ms": 15_000,
  }) as unknown as grpc.Client & {
    Connect(): grpc.ClientDuplexStream<AgentMessage, CloudMessage>;
  };
  const call = client.Connect();
  let welcomed = false;
  let dataPort = 0;
  let growWindows = false;
  let dataServerName: string | undefined;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let finished = false;
  let resolveDone!: (e: SessionEnd) => void;
  const done = new Promise<SessionEnd>((r) => (resolveDone = r));
  const finish = (code: number, reason: string) => {
    if (finished) return;
    finished = true;
    clearInterval(heartbeat);
    o.renewer?.end();
    if (welcomed) o.reachability?.detach();
    call.removeAllListeners("data");
    call.on("error", () => {});
    call.cancel();
    client.close();
    resolveDone({ welcomed, code, reason });
  };
  const send = (m: AgentMessage) => {
    if (!finished) call.write(m);
  };

  call.on("data", (m: CloudMessage) => {
    switch (m.msg) {
      case "welcome": {
        const w = m.welcome!;
        welcomed = true;
        dataPort = w.dataPort;
        growWindows = w.protocol >= GROWING_WINDOWS_PROTOCOL;
        dataServerName = w.protocol >= DATA_SERVER_NAME_PROTOCOL ? DATA_SERVER_NAME : undefined;
        clearInterval(heartbeat);
        heartbeat = setInterval(
          () => send({ heartbeat: o.stats.snapshot() }),
          w.heartbeatMs || HEARTBEAT_MS,
        );
        o.onWelcome?.(w.node);
        o.reachability?.attach((r) => send({ reachability: r }));
        o.renewer?.welcome(o.state, send).catch((e) =>
          o.log.error({ err: (e as Error).message }, "certificate renewal failed")
        );
        break;
      }
      case "certificatePolicy":
        o.renewer?.policy(m.certificatePolicy!, o.state, send).catch((e) =>
          o.log.error({ err: (e as Error).message }, "certificate policy failed")
        );
        break;
      case "renewResult":
        o.renewer?.result(m.renewResult!).catch((e) =>
          o.log.error({ err: (e as Error).message }, "certificate renewal failed")
        );
        break;
      case "allowlist": {
        const a = m.allowlist!;
        if (o.allowlist.update(a.version, a.entries)) {
          o.log.info({ version: a.version, entries: a.entries.length }, "allowlist updated");
          o.reachability?.soon();
        } else {
          o.log.debug({ version: a.version, have: o.allowlist.version }, "ignored stale allowlist");
        }
        break;
      }
      case "openData": {
        const ticket = m.openData!.ticket;
        const ep = {
          route: o.route,
          port: dataPort,
          caPem: o.state.caPem,
          growWindows,
          serverName: dataServerName,
        };
        // A dial that fails for good is told to the cloud, which fails the opens waiting for
        // it with why (a firewall on the data port, say) instead of at their deadline.
        o.dataPool.add(ep, ticket, (reason) => send({ dataDialFailed: { ticket, reason } }));
        break;
      }
      case "discoveryRequest": {
        const req = m.discoveryRequest!;
        const windowMs = discoveryWindow(req.timeoutMs);
        o.log.info({ request: req.requestId, windowMs }, "ONVIF discovery started");
        probeOnvif({ windowMs, targets: o.discoveryTargets }).then((r) => {
          o.log.info(
            { request: req.requestId, devices: r.devices.length, dropped: r.dropped },
            "ONVIF discovery done",
          );
          if (r.ignored) {
            o.log.warn(
              { request: req.requestId, ignored: r.ignored },
              "ONVIF discovery: more replies than one round reads; the rest were not read " +
                "(a host on the LAN may be flooding UDP port 3702)",
            );
          }
          send({
            discoveryResult: {
              requestId: req.requestId,
              devices: r.devices,
              error: r.error,
              dropped: r.dropped,
              ignored: r.ignored,
            },
          });
        });
        break;
      }
    }
  });
  call.on("error", (e: grpc.ServiceError) => finish(e.code ?? 2, e.details || e.message));
  call.on("end", () => finish(0, "stream ended by the cloud"));

  send({
    hello: {
      agentId: o.state.agentId,
      version: VERSION,
      hostname: hostname(),
      os: `${Deno.build.os}/${Deno.build.arch}`,
      protocol: PROTOCOL_VERSION,
      allowlistVersion: o.allowlist.version,
    },
  });
  return { done, close: () => finish(grpc.status.CANCELLED, "agent stopping") };
}
