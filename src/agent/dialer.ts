/**
 * Opening a tunnel on the agent: check the (host, port) of an OPEN frame against the agent's own
 * allowlist (refuse with "target not in allowlist" otherwise, whatever the cloud says), resolve
 * the host once and dial exactly the address that was checked, answer OPENED and pump bytes
 * until both sides are done. Also dials the pool's data connections (`data_pool.ts`).
 * @module
 */
import { isIP } from "node:net";
import { lookup } from "node:dns/promises";
import type { MuxStream } from "../shared/transport/mux_session.ts";
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
  /** The cloud speaks protocol 3 or later: stream windows may grow (`mux_session.ts`). */
  growWindows?: boolean;
  /**
   * The name to ask for and check on the data listener's certificate instead of the route's
   * host: `DATA_SERVER_NAME` from a node of protocol 4 or later (see there why).
   */
  serverName?: string;
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
 * Dials one data connection of the pool: TLS to the cloud's data listener, whose certificate
 * must chain to the pinned agent CA and name `ep.serverName` — a name no public authority may
 * certify, since Deno's TLS client also trusts its public roots — or, from a node older than
 * protocol 4, the control endpoint's host; then the preface with the one-time ticket.
 */
export async function dialDataConnection(
  ep: DataEndpoint,
  ticket: Uint8Array,
  timeoutMs = 10_000,
): Promise<Deno.TlsConn> {
  // The session's route (Happy Eyeballs winner or proxy); Nagle is off on its TCP socket.
  const conn = await dialCloudTls(
    ep.route,
    ep.port,
    ep.caPem,
    AbortSignal.timeout(timeoutMs),
    ep.serverName,
  );
  try {
    const header = encodeDataHeader(ticket);
    let off = 0;
    while (off < header.byteLength) off += await conn.write(header.subarray(off));
    return conn;
  } catch (e) {
    conn.close();
    throw e;
  }
}

/** Resolves a host name once; IP literals are returned as they are. */
async function resolveOnce(host: string): Promise<string> {
  if (isIP(host)) return host;
  return (await lookup(host)).address;
}

/** Resolves a device host once and dials it with a timeout; DialError when it cannot. */
export async function dialDevice(
  host: string,
  port: number,
  timeoutMs: number,
): Promise<Deno.TcpConn> {
  try {
    return await connectTcp(await resolveOnce(host), port, timeoutMs);
  } catch (e) {
    if (e instanceof DialError) throw e;
    throw new DialError((e as Error).message, "dial_failed");
  }
}

/**
 * Handles one OPEN frame: refuses it (CLOSE with a code the cloud maps to the operator's error)
 * or dials the device, answers OPENED and pipes device ⇄ stream until both sides are done.
 */
export async function openTunnel(
  d: DialerDeps,
  stream: MuxStream,
  host: string,
  port: number,
): Promise<void> {
  if (!await d.allowlist.allowsSoon(host, port)) {
    d.log.warn({ host, port, stream: stream.id }, "refused: target not in allowlist");
    return stream.refuse("target_not_allowed", "target not in allowlist");
  }
  const timeout = d.dialTimeoutMs ?? 10_000;
  let target: Deno.TcpConn;
  try {
    target = await dialDevice(host, port, timeout);
  } catch (e) {
    const err = e as Error;
    d.log.info({ host, port, err: err.message }, "device dial failed");
    return stream.refuse(e instanceof DialError ? e.code : "dial_failed", err.message);
  }
  if (!stream.accept()) {
    target.close(); // the cloud gave up on this open meanwhile
    return;
  }
  d.stats.activeStreams++;
  d.stats.tunnelsOpened++;
  d.log.debug({ stream: stream.id, host, port }, "tunnel open");
  // Returned, not awaited: an idle tunnel then holds no suspended frame of this function.
  return pipeConns(target, stream, (up, down) => {
    d.stats.bytesUp += up;
    d.stats.bytesDown += down;
  }).then((r) => {
    d.stats.activeStreams--;
    d.log.debug(
      { stream: stream.id, up: r.aToB, down: r.bToA, reason: r.error?.message ?? "closed" },
      "tunnel closed",
    );
  });
}
