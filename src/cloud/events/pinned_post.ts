/**
 * One webhook POST that connects only to the addresses the URL check accepted: the host name is
 * not resolved again at connect time (node:http's `lookup` answers with the checked addresses),
 * so a DNS answer that changes between the check and the connect (rebinding) cannot point the
 * request at the cloud's own network. TLS still verifies the certificate against the host name
 * (SNI and verification use the name, the socket the pinned address), trusting the runtime's
 * authorities and the machine's own store (where a company's IT puts the authority of its
 * internal receivers, for a cloud run with `--allow-private-webhooks`). Through an outbound
 * proxy (webhook_proxy.ts) the proxy is asked to CONNECT to the first pinned address and TLS runs
 * over that tunnel, still verified against the name. No redirect is followed; the answer's body
 * is drained, never read into memory, and only its first 64 KiB or 10 s: then the connection is
 * closed.
 * @module
 */
import http from "node:http";
import https from "node:https";
import { isIP, type Socket } from "node:net";
import { connect as tlsConnect, rootCertificates } from "node:tls";
import { Buffer } from "node:buffer";
import { systemCaCerts } from "../../shared/crypto/trust_roots.ts";
import {
  basicAuthHeader,
  connectAuthority,
  connectRefusal,
  type ProxyConfig,
} from "../../shared/transport/proxy.ts";

/** Why a POST got no HTTP answer. */
export class PostError extends Error {
  /** Creates the error; `message` goes to the delivery log. */
  constructor(message: string) {
    super(message);
    this.name = "PostError";
  }
}

type LookupCallback = (
  err: Error | null,
  address: string | { address: string; family: number }[],
  family?: number,
) => void;

let roots: string[] | undefined | null = null;

/**
 * The authorities a receiver's certificate may chain to: the built-in list and the machine's
 * store (`trust_roots.ts`); undefined (the built-in list) when the store adds nothing. node:https
 * takes `ca` instead of its defaults, hence both.
 */
function webhookRoots(): string[] | undefined {
  if (roots === null) {
    const extra = systemCaCerts();
    roots = extra.length ? [...rootCertificates, ...extra] : undefined;
  }
  return roots;
}

/**
 * A TCP tunnel through `proxy` to `address:port` (HTTP CONNECT, Basic credentials from the proxy
 * URL), ready for TLS; rejects with a {@linkcode PostError} that says why, or after `timeoutMs`.
 */
function tunnelThrough(
  proxy: ProxyConfig,
  address: string,
  port: number,
  timeoutMs: number,
): Promise<Socket> {
  const authority = connectAuthority(address, port);
  return new Promise<Socket>((resolve, reject) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: "CONNECT",
      path: authority,
      headers: {
        host: authority,
        ...(proxy.auth ? { "proxy-authorization": basicAuthHeader(proxy.auth) } : {}),
      },
    });
    // Only until the proxy answers: the tunnel it gives is the request's from then on.
    const timer = setTimeout(() => {
      req.destroy();
      reject(new PostError(`no answer within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    req.on("connect", (res, socket) => {
      clearTimeout(timer);
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      const status = `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage ?? ""}`.trim();
      reject(new PostError(connectRefusal(proxy, authority, res.statusCode ?? 0, status).message));
    });
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(new PostError(`cannot reach the proxy ${proxy.display}: ${e.message}`));
    });
    req.end();
  });
}

/** POSTs `body` to `url` over one of `addresses`; resolves with the status code. */
export async function postPinned(o: {
  url: URL;
  addresses: string[];
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** The CA certificates to trust instead (tests); default: {@linkcode webhookRoots}. */
  ca?: string;
  /** An outbound proxy for an https URL (webhook_proxy.ts `webhookProxyFor`). */
  proxy?: ProxyConfig | null;
}): Promise<number> {
  const tls = o.url.protocol === "https:";
  const to: Target = {
    host: o.url.hostname.replace(/^\[|\]$/g, ""),
    port: Number(o.url.port) || (tls ? 443 : 80),
    tls,
    ca: o.ca ?? webhookRoots(),
  };
  if (!tls || !o.proxy) return await send(o, to);
  // One deadline for the proxy's tunnel and the receiver's answer.
  const started = Date.now();
  const socket = await tunnelThrough(o.proxy, o.addresses[0], to.port, o.timeoutMs);
  return await send(
    { ...o, timeoutMs: Math.max(1, o.timeoutMs - (Date.now() - started)) },
    to,
    // `host` is what the certificate is checked against (an address has no SNI to give).
    () =>
      tlsConnect({ socket, host: to.host, servername: servername(to.host), ca: to.ca as never }),
  );
}

/** Where a POST goes: the URL's host and port, and for https the authorities trusted. */
interface Target {
  host: string;
  port: number;
  tls: boolean;
  ca: string | string[] | undefined;
}

/** The name TLS sends and verifies (none for an address). */
const servername = (host: string) => isIP(host) ? undefined : host;

/** Most bytes of a receiver's answer body read (and dropped) before its connection is closed. */
export const MAX_DRAIN_BYTES = 64 << 10;
/** Longest a receiver's answer body is read after its head (at most the POST's own deadline). */
export const MAX_DRAIN_MS = 10_000;

/** The request itself, on the pinned addresses or on `connection` when given (a proxy's tunnel). */
function send(
  o: {
    addresses: string[];
    url: URL;
    headers: Record<string, string>;
    body: string;
    timeoutMs: number;
  },
  { host, port, tls, ca }: Target,
  connection?: () => Socket,
): Promise<number> {
  const pinned = o.addresses.map((address) => ({ address, family: isIP(address) || 4 }));
  const lookup = (_host: string, opts: { all?: boolean }, cb: LookupCallback) => {
    if (opts?.all) cb(null, pinned);
    else cb(null, pinned[0].address, pinned[0].family);
  };
  const payload = Buffer.from(o.body);
  return new Promise<number>((resolve, reject) => {
    const req = (tls ? https : http).request({
      host,
      port,
      path: `${o.url.pathname}${o.url.search}`,
      method: "POST",
      headers: { ...o.headers, "content-length": String(payload.byteLength) },
      lookup: lookup as never,
      ...(tls ? { servername: servername(host), ca } : {}),
      ...(connection ? { createConnection: connection } : {}),
    }, (res) => {
      clearTimeout(timer);
      // Drained, never kept, and only so far: a receiver whose body never ends (or trickles)
      // must not hold the node's connection and CPU, one more at each delivery.
      let drained = 0;
      const cut = setTimeout(() => res.destroy(), Math.min(o.timeoutMs, MAX_DRAIN_MS));
      res.on("data", (c: Buffer) => {
        drained += c.byteLength;
        if (drained > MAX_DRAIN_BYTES) res.destroy();
      });
      res.on("close", () => clearTimeout(cut));
      res.on("error", () => {});
      resolve(res.statusCode ?? 0);
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new PostError(`no answer within ${o.timeoutMs / 1000} s`));
    }, o.timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(new PostError(e.message.slice(0, 300)));
    });
    req.end(payload);
  });
}
