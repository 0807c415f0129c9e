/**
 * Opening a tunnel on the agent: check the (host, port) against the agent's own allowlist
 * (refuse with "target not in allowlist" otherwise, whatever the cloud says), resolve the host
 * once and dial exactly the address that was checked, meanwhile dial the cloud's data port
 * (TLS), present the ticket once the device answered, and pump bytes until both sides are done.
 * @module
 */
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import type { OpenTunnel, TunnelClosed, TunnelResult } from "../shared/protocol/control.ts";
import { encodeDataHeader } from "../shared/protocol/wire.ts";
import { pipeConns } from "../shared/transport/pipe.ts";
import type { Logger } from "../shared/log.ts";
import type { Allowlist } from "./allowlist.ts";
import type { Stats } from "./stats.ts";
import { type CloudRoute, dialCloudTls } from "./cloud_route.ts";

/** How the agent reaches the cloud's data listener. */
export interface DataEndpoint {
  /** The session's route (its Happy Eyeballs address or proxy; certificates name its host). */
  route: CloudRoute;
  port: number;
  /** The pinned agent CA. */
  caPem: string;
}

/** Dependencies of the dialer. */
export interface DialerDeps {
  allowlist: Allowlist;
  stats: Stats;
  log: Logger;
  dialTimeoutMs?: number;
}

class DialError extends Error {
  constructor(message: string, readonly code: "dial_failed" | "dial_timeout") {
    super(message);
  }
}

/** Dials a device address with a timeout. */
async function connectTcp(host: string, port: number, timeoutMs: number): Promise<Deno.TcpConn> {
  try {
    const conn = await Deno.connect({
      hostname: host,
      port,
      signal: AbortSignal.timeout(timeoutMs),
    });
    conn.setNoDelay(true);
    return conn;
  } catch (e) {
    const err = e as Error;
    if (err.name === "TimeoutError" || err.name === "AbortError") {
      throw new DialError(`no answer from ${host}:${port} within ${timeoutMs} ms`, "dial_timeout");
    }
    throw new DialError(err.message, "dial_failed");
  }
}

/**
 * Dials the cloud's data listener. The server must present a certificate for the control
 * endpoint's host that chains to the pinned agent CA (Deno also accepts publicly trusted roots
 * here, the same trust the operator's own HTTPS leg has; the control channel accepts only the
 * pinned CA). The connection is bound to its tunnel by the one-time ticket in the header.
 */
async function connectData(ep: DataEndpoint, timeoutMs: number): Promise<Deno.TlsConn> {
  // The session's route (Happy Eyeballs winner or proxy); Nagle is off on its TCP socket.
  return await dialCloudTls(ep.route, ep.port, ep.caPem, AbortSignal.timeout(timeoutMs));
}

/** Binds a data connection to its tunnel: the header with the one-time ticket. */
async function presentTicket(conn: Deno.TlsConn, ticket: Uint8Array): Promise<void> {
  const header = encodeDataHeader(ticket);
  let off = 0;
  while (off < header.byteLength) off += await conn.write(header.subarray(off));
}

/** Resolves a host name once; IP literals are returned as they are. */
async function resolveOnce(host: string): Promise<string> {
  if (isIP(host)) return host;
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
  // The data connection's handshake runs while the device is dialed; the ticket is presented
  // only once the device answered, so a failed dial is still a refusal before the upgrade.
  const dataConn = connectData(data, timeout);
  dataConn.catch(() => {}); // handled below; a device failure may leave it unawaited
  let target: Deno.TcpConn;
  try {
    const ip = await resolveOnce(req.host);
    target = await connectTcp(ip, req.port, timeout);
  } catch (e) {
    const err = e as Error;
    dataConn.then((c) => c.close(), () => {});
    d.log.info({ host: req.host, port: req.port, err: err.message }, "device dial failed");
    return fail(e instanceof DialError ? e.code : "dial_failed", err.message);
  }
  let conn: Deno.TlsConn;
  try {
    conn = await dataConn;
    await presentTicket(conn, req.ticket);
  } catch (e) {
    target.close();
    d.log.warn({ err: (e as Error).message }, "data connection to the cloud failed");
    return fail("data_connect_failed", (e as Error).message);
  }
  d.stats.activeStreams++;
  d.stats.tunnelsOpened++;
  d.log.debug({ tunnel: req.tunnelId, host: req.host, port: req.port }, "tunnel open");
  const r = await pipeConns(target, conn, (up, down) => {
    d.stats.bytesUp += up;
    d.stats.bytesDown += down;
  });
  d.stats.activeStreams--;
  report({
    tunnelClosed: {
      tunnelId: req.tunnelId,
      bytesUp: r.aToB,
      bytesDown: r.bToA,
      reason: r.error?.message ?? "closed",
    },
  });
}
