/**
 * Carries one accepted local TCP connection over a WebSocket tunnel of the cloud (the native
 * WebSocket of `ws_native.ts`), with the shared byte pump (backpressure both ways, half-close). A refusal before the upgrade comes back
 * as an HTTP status and the cloud's message, which the caller turns into a log line or an exit.
 * @module
 */
import { pipeWebSocket } from "../shared/transport/websocket.ts";
import { connectWebSocket, dialFor, wsProxy } from "../shared/transport/ws_connect.ts";
import { EarlyReader } from "../shared/transport/early_data.ts";
import { reachFailure } from "../shared/reach_error.ts";
import { ProxyError } from "../shared/transport/proxy.ts";
import { UsageError } from "../shared/cli.ts";
import type { Logger } from "../shared/log.ts";
import { SpareDialer } from "./spare.ts";
import { CA_FLAG, extraCaCerts } from "./trust.ts";

/**
 * How a carried connection ended: bytes `up` (from the local client toward the device, its
 * early bytes included) and `down`, and the close reason; or the refusal.
 */
export type CarryResult =
  | { ok: true; up: number; down: number; reason: string }
  | { ok: false; status: number; message: string };

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/;

/**
 * Whether frames to `url` may carry an all-zero mask. RFC 6455 makes clients mask so that a
 * transparent proxy which misreads WebSocket bytes as HTTP cannot be fed a request chosen by
 * script in a browser (cache poisoning). Over TLS (wss:) no intermediary reads the bytes, and on
 * loopback there is none; the CLI is not a browser running others' script either. The frames
 * still say "masked" (with key 0), which a server cannot tell from a random key, and `ws`
 * then skips the XOR on both sides — in JavaScript (no native bufferutil under Deno) that
 * loop over every byte was the CLI's largest cost per GB.
 */
export function maskFree(url: URL): boolean {
  return url.protocol === "wss:" || LOOPBACK.test(url.hostname);
}

/** How `carry` handles a client's first bytes (`early_data.ts`). */
export interface EarlyOptions {
  /** Carry them in the upgrade request (off: `--no-early-data`). */
  enabled: boolean;
  /**
   * The device's protocol has the server speak first (SSH, FTP, SMTP, telnet): its client sends
   * nothing before the banner, so no time is spent waiting for its bytes.
   */
  serverFirst?: boolean;
}

/**
 * Opens the WebSocket at `url` with `headers` and pumps `conn` through it until both are done.
 * The WebSocket is the native one (`ws_native.ts` on a Deno connection), not `ws`. With
 * `spares`, its connection to the cloud is the one dialed ahead, when there is one. With
 * `early.enabled`, the client's first bytes ride in the request when they are there in time
 * (already, or within `SpareDialer.earlyWaitMs` on a slow link): one round trip to the cloud
 * less before a client that speaks first is answered.
 */
export async function carry(
  conn: Deno.TcpConn,
  url: URL,
  headers: Record<string, string>,
  spares?: SpareDialer,
  early: EarlyOptions = { enabled: false },
): Promise<CarryResult> {
  conn.setNoDelay(true);
  const reader = early.enabled ? new EarlyReader(conn) : undefined;
  const waitMs = early.serverFirst ? 0 : spares?.earlyWaitMs ?? 0;
  const t0 = performance.now();
  const dial = () => dialFor(url, extraCaCerts);
  const opened = await connectWebSocket(
    url,
    headers,
    maskFree(url),
    spares ? () => spares.take() : async () => ({ conn: await dial(), reused: false }),
    reader && (() => reader.first(waitMs)),
    dial,
  );
  // The next open's connection is dialed now that this one was answered, unless it was already
  // when this one was taken (a slow link, `spare.ts`); a cloud that did not answer gets no
  // spare: the next open tries for itself.
  if (opened.ok || opened.status !== 0) spares?.answered(performance.now() - t0);
  if (!opened.ok) {
    try {
      conn.close();
    } catch { /* closed */ }
    return { ok: false, status: opened.status, message: failureWords(opened) };
  }
  const socket = reader ? reader.stream(opened.earlyTaken > 0) : conn;
  const r = await pipeWebSocket(opened.ws, socket, { socketEnd: "eof" });
  return {
    ok: true,
    up: r.socketToWs + opened.earlyTaken,
    down: r.wsToSocket,
    reason: r.closeReason,
  };
}

/**
 * What to tell the operator of a WebSocket to the cloud that did not open: the cloud's own
 * message for a refusal; for a connection never made, the reason in words (a certificate by a
 * wrong clock, an unknown authority: `reach_error.ts`), or the proxy's refusal as it is.
 */
export function failureWords(r: { status: number; message: string; error?: unknown }): string {
  if (r.status !== 0 || r.error instanceof ProxyError) return r.message;
  return reachFailure(r.error ?? r.message, Date.now(), { caFlag: CA_FLAG });
}

/** Connections dialed ahead to `cloud` (one spare at a time; see `spare.ts`). */
export function sparesFor(cloud: URL): SpareDialer {
  const url = wsUrl(cloud, "/");
  return new SpareDialer(() => dialFor(url, extraCaCerts));
}

/** The ws:// or wss:// URL of a cloud path. */
export function wsUrl(cloud: URL, path: string): URL {
  const u = new URL(path, cloud);
  u.protocol = cloud.protocol === "https:" ? "wss:" : "ws:";
  return u;
}

/**
 * Says once in the log when the environment routes the cloud through a proxy (`HTTPS_PROXY`,
 * `HTTP_PROXY`, `NO_PROXY`: `wsProxy`); a malformed proxy setting is the operator's error.
 */
export function announceProxy(cloud: URL, log: Logger): void {
  let proxy;
  try {
    proxy = wsProxy(wsUrl(cloud, "/"));
  } catch (e) {
    throw new UsageError(
      `${cloud.protocol === "https:" ? "HTTPS" : "HTTP"}_PROXY: ${(e as Error).message}`,
    );
  }
  if (proxy) log.info({ proxy: proxy.display }, "reaching the cloud through a proxy");
}
