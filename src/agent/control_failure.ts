/**
 * Why the control stream could not connect, in words a site technician can act on. The agent
 * logged "control stream cannot connect; retrying" with the runtime's reason beside it — "every
 * address failed (127.0.0.1: Connection refused (os error 111))", or grpc-js's "No connection
 * established. Last error: …" through a proxy — which says what happened but not what to do on
 * this machine: open the firewall, fix the DNS, or exempt the control port from a proxy that
 * inspects TLS. The same words go to `link.json`, so `connector agent status` and the installer's
 * wait say them too. A reason that is the cloud's own answer (a refusal, the store unavailable)
 * matches none of these and is left as the cloud said it; a clock far off is `clock_skew.ts`'s.
 * @module
 */

/**
 * The words for a failed connection to `endpoint` (the control endpoint, `host:port` or a list),
 * or null when `reason` is not a failure to reach it.
 */
export function controlFailureWords(reason: string, endpoint: string): string | null {
  if (/Connection refused|ECONNREFUSED/i.test(reason)) {
    return `${endpoint} refused the connection: the cloud does not listen there, or a firewall ` +
      `rejects it; this machine must be allowed outbound TCP to ${endpoint}`;
  }
  if (
    /no address found|Name resolution failed|failed to lookup|dns error|ENOTFOUND|EAI_AGAIN/i
      .test(reason)
  ) {
    return `the cloud's name in ${endpoint} does not resolve here: check this machine's DNS`;
  }
  if (/timed out|ETIMEDOUT|TimeoutError/i.test(reason)) {
    return `no answer from ${endpoint}: a firewall drops the connection; this machine must be ` +
      "allowed outbound TCP to it (where the only way out is an HTTP proxy, give it: " +
      "agent run --proxy URL, or NC_PROXY)";
  }
  if (
    /UnknownIssuer|self[- ]signed|unable to verify|unable to get local issuer/i.test(reason)
  ) {
    return `${endpoint} answered with a certificate that is not the cloud's: a proxy that ` +
      "inspects TLS is in the way; ask for that address to be exempt from inspection (the agent " +
      "proves who it is with its own certificate, which inspection cannot carry)";
  }
  if (
    /unexpected end of file|disconnected before secure TLS|InvalidContentType|corrupt message|ECONNRESET|Connection reset/i
      .test(reason)
  ) {
    return `the connection to ${endpoint} was cut before the cloud answered: a firewall or a ` +
      "proxy between here and the cloud cuts it, or that port is not the cloud's control port";
  }
  return null;
}
