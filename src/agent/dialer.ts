/**
 * Opening a tunnel on the agent: check the (host, port) against the agent's own allowlist
 * (refuse with "target not in allowlist" otherwise, whatever the cloud says), resolve the host
 * once and dial exactly the address that was checked, then dial the cloud's data port with the
 * agent certificate, present the ticket, and pump bytes until both sides are done.
 * @module
 */
import * as net from "node:net";
import * as tls from "node:tls";
import { lookup } from "node:dns/promises";
import type { OpenTunnel, TunnelClosed, TunnelResult } from "../shared/protocol/control.ts";
import { encodeDataHeader } from "../shared/protocol/wire.ts";
import { pipeSockets } from "../shared/transport/pipe.ts";
import type { Logger } from "../shared/log.ts";
import type { Allowlist } from "./allowlist.ts";
import type { Stats } from "./stats.ts";

/** How the agent reaches the cloud's data listener. */
export interface DataEndpoint {
  host: string;
  port: number;
  /** TLS server name to verify (the control endpoint's host name). */
  servername: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Dependencies of the dialer. */
export interface DialerDeps {
  allowlist: Allowlist;
  stats: Stats;
  log: Logger;
  dialTimeoutMs?: number;
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    const t = setTimeout(() => {
      s.destroy();
      reject(
        Object.assign(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`), {
          code: "ETIMEDOUT",
        }),
      );
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(t);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

function connectData(ep: DataEndpoint, timeoutMs: number): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: ep.host,
      port: ep.port,
      servername: net.isIP(ep.servername) ? undefined : ep.servername,
      ca: ep.caPem,
      cert: ep.certPem,
      key: ep.keyPem,
      allowHalfOpen: true,
      minVersion: "TLSv1.2",
      checkServerIdentity: (host: string, cert: tls.PeerCertificate) =>
        tls.checkServerIdentity(ep.servername || host, cert),
    } as tls.ConnectionOptions);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error("data connection timed out"));
    }, timeoutMs);
    s.once("secureConnect", () => {
      clearTimeout(t);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once("error", (e) => {
      clearTimeout(t);
      reject(e);
    });
  });
}

/** Resolves a host name once; IP literals are returned as they are. */
async function resolveOnce(host: string): Promise<string> {
  if (net.isIP(host)) return host;
  return (await lookup(host)).address;
}

/**
 * Handles one OpenTunnel. Calls `report` with a TunnelResult on refusal or failure, and with a
 * TunnelClosed when a tunnel that opened ends.
 */
export async function openTunnel(
  d: DialerDeps,
  req: OpenTunnel,
  data: DataEndpoint,
  report: (r: { tunnelResult?: TunnelResult; tunnelClosed?: TunnelClosed }) => void,
): Promise<void> {
  const fail = (code: string, error: string) =>
    report({ tunnelResult: { tunnelId: req.tunnelId, ok: false, code, error } });
  if (!d.allowlist.allows(req.host, req.port)) {
    d.log.warn(
      { host: req.host, port: req.port, tunnel: req.tunnelId },
      "refused: target not in allowlist",
    );
    return fail("target_not_allowed", "target not in allowlist");
  }
  const timeout = d.dialTimeoutMs ?? 10_000;
  let target: net.Socket;
  try {
    const ip = await resolveOnce(req.host);
    target = await connectTcp(ip, req.port, timeout);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    d.log.info({ host: req.host, port: req.port, err: err.message }, "device dial failed");
    return fail(err.code === "ETIMEDOUT" ? "dial_timeout" : "dial_failed", err.message);
  }
  let conn: tls.TLSSocket;
  try {
    conn = await connectData(data, timeout);
    conn.write(encodeDataHeader(req.ticket));
  } catch (e) {
    target.destroy();
    d.log.warn({ err: (e as Error).message }, "data connection to the cloud failed");
    return fail("data_connect_failed", (e as Error).message);
  }
  d.stats.activeStreams++;
  d.stats.tunnelsOpened++;
  d.log.debug({ tunnel: req.tunnelId, host: req.host, port: req.port }, "tunnel open");
  let up = 0;
  let down = 0;
  target.on("data", (c: Uint8Array) => {
    up += c.byteLength;
    d.stats.bytesUp += c.byteLength;
  });
  conn.on("data", (c: Uint8Array) => {
    down += c.byteLength;
    d.stats.bytesDown += c.byteLength;
  });
  const r = await pipeSockets(target, conn);
  d.stats.activeStreams--;
  report({
    tunnelClosed: {
      tunnelId: req.tunnelId,
      bytesUp: up,
      bytesDown: down,
      reason: r.error?.message ?? "closed",
    },
  });
}
