/**
 * The outbound proxy webhooks go through (`--webhook-proxy`), for a cloud in a data centre whose
 * only way out is the company's HTTP proxy: without it the node's alerts never leave. The proxy
 * is asked to CONNECT to the address the URL check accepted (webhook_url.ts), never to the name,
 * so a DNS answer that changed since the check cannot steer it, and TLS runs end to end over the
 * tunnel, verified against the name: the proxy sees an address and a port. `NO_PROXY` (or
 * `no_proxy`) in the cloud's environment names the receivers reached directly — by name, address
 * or CIDR, such as a private receiver on the cloud's own network. Only https receivers go through
 * the proxy; the development-only http ones are on loopback.
 * @module
 */
import {
  bypassesProxy,
  parseProxyUrl,
  type ProxyConfig,
  ProxyError,
} from "../../shared/transport/proxy.ts";

/**
 * The `--webhook-proxy` value: a proxy; null for `off` (direct, said so); undefined when unset
 * or empty (direct).
 */
export function parseWebhookProxy(text: string | undefined): ProxyConfig | null | undefined {
  const t = text?.trim() ?? "";
  if (t === "") return undefined;
  if (t === "off") return null;
  try {
    return parseProxyUrl(t);
  } catch (e) {
    if (e instanceof ProxyError) throw new ProxyError(e.message.replace(/^proxy: /, ""));
    throw e;
  }
}

/**
 * The proxy a POST to `host` (resolved to `addresses`) goes through: `proxy` unless the URL is
 * plain http or `noProxy` (a `NO_PROXY` list) names the host or any of the addresses.
 */
export function webhookProxyFor(
  proxy: ProxyConfig | null | undefined,
  url: URL,
  addresses: string[],
  noProxy: string | undefined,
): ProxyConfig | null {
  if (!proxy || url.protocol !== "https:") return null;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (bypassesProxy(host, noProxy) || addresses.some((a) => bypassesProxy(a, noProxy))) {
    return null;
  }
  return proxy;
}

/** The cloud's `NO_PROXY` (or `no_proxy`). */
export function noProxyFrom(env: Record<string, string | undefined>): string | undefined {
  return env.NO_PROXY ?? env.no_proxy;
}

/**
 * A start-up note when the environment names an HTTPS proxy the webhooks will not use (no
 * `--webhook-proxy`, not even `off`): the platform operator who set `HTTPS_PROXY` for the
 * service expects the alerts to go through it. Null when there is nothing to say.
 */
export function unusedEnvProxyNote(
  flag: ProxyConfig | null | undefined,
  env: Record<string, string | undefined>,
): string | null {
  if (flag !== undefined || !(env.HTTPS_PROXY || env.https_proxy)) return null;
  return "HTTPS_PROXY is set, but webhooks go direct: to send them through that proxy, set " +
    "--webhook-proxy (NC_WEBHOOK_PROXY) to it (off: direct, and this note goes)";
}
