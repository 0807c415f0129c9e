/**
 * One webhook POST that connects only to the addresses the URL check accepted: the host name is
 * not resolved again at connect time (node:http's `lookup` answers with the checked addresses),
 * so a DNS answer that changes between the check and the connect (rebinding) cannot point the
 * request at the cloud's own network. TLS still verifies the certificate against the host name
 * (SNI and verification use the name, the socket the pinned address), trusting the runtime's
 * authorities and the machine's own store (where a company's IT puts the authority of its
 * internal receivers, for a cloud run with `--allow-private-webhooks`). No redirect is followed;
 * the answer's body is drained, never read into memory.
 * @module
 */
import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { rootCertificates } from "node:tls";
import { Buffer } from "node:buffer";
import { systemCaCerts } from "../../shared/crypto/trust_roots.ts";

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

/** POSTs `body` to `url` over one of `addresses`; resolves with the status code. */
export function postPinned(o: {
  url: URL;
  addresses: string[];
  headers: Record<string, string>;
  body: string;
  timeoutMs: number;
  /** The CA certificates to trust instead (tests); default: {@linkcode webhookRoots}. */
  ca?: string;
}): Promise<number> {
  const pinned = o.addresses.map((address) => ({ address, family: isIP(address) || 4 }));
  const lookup = (_host: string, opts: { all?: boolean }, cb: LookupCallback) => {
    if (opts?.all) cb(null, pinned);
    else cb(null, pinned[0].address, pinned[0].family);
  };
  const tls = o.url.protocol === "https:";
  const host = o.url.hostname.replace(/^\[|\]$/g, "");
  const payload = Buffer.from(o.body);
  return new Promise<number>((resolve, reject) => {
    const req = (tls ? https : http).request({
      host,
      port: Number(o.url.port) || (tls ? 443 : 80),
      path: `${o.url.pathname}${o.url.search}`,
      method: "POST",
      headers: { ...o.headers, "content-length": String(payload.byteLength) },
      lookup: lookup as never,
      ...(tls ? { servername: isIP(host) ? undefined : host, ca: o.ca ?? webhookRoots() } : {}),
    }, (res) => {
      clearTimeout(timer);
      res.resume(); // drain; the receiver's body is not kept
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
