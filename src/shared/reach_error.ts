/**
 * Why a connection to the cloud failed, in words a site technician or an operator can act on.
 * `fetch` says only "fetch failed"; the reason is in its causes (rustls's "invalid peer
 * certificate: …", the system's "Connection refused", a DNS failure), and a TLS connection's
 * error is rustls's own wording. The two causes people meet most — a clock far off (a site PC
 * whose clock battery died) and a proxy that inspects TLS (a company laptop) — are named with
 * what to do; the rest is the innermost cause without the HTTP client's prefixes.
 * @module
 */

/** What the caller can offer the person: the flag that adds a trusted certificate authority. */
export interface ReachHints {
  /** e.g. `--ca-file FILE`: named when the cloud's certificate is from an unknown authority. */
  caFlag?: string;
}

/** The error's message and its causes', outermost first. */
function messages(e: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  for (let c = e; c && !seen.has(c) && out.length < 8; c = (c as { cause?: unknown }).cause) {
    seen.add(c);
    const code = (c as { code?: unknown }).code;
    out.push(
      (c instanceof Error ? c.message : String(c)) + (typeof code === "string" ? ` [${code}]` : ""),
    );
    if (!(c instanceof Error)) break;
  }
  return out;
}

/**
 * Whether a TLS failure's words (rustls's, or node:tls's) say the peer's certificate is not valid
 * yet or has expired by this clock: what a clock far off looks like from the client.
 */
export function certificateClockFailure(text: string): "not_yet_valid" | "expired" | null {
  if (/certificate not valid yet|certificate is not yet valid|CERT_NOT_YET_VALID/i.test(text)) {
    return "not_yet_valid";
  }
  if (
    /peer certificate: certificate expired|certificate has expired|CERT_HAS_EXPIRED/i.test(text)
  ) {
    return "expired";
  }
  return null;
}

/** The instant in the form people read dates in logs (UTC, to the second). */
function isoSecond(t: number): string {
  return new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
}

/**
 * The reason `e` (what `fetch`, `Deno.connect` or a TLS handshake threw) gives for not reaching
 * the cloud: a phrase to follow "cannot reach the cloud at URL: ". `now` is this computer's clock
 * (the TLS check used it), shown when a certificate failed by it.
 */
export function reachFailure(e: unknown, now: number = Date.now(), hints: ReachHints = {}): string {
  const all = messages(e);
  const text = all.join(" | ");
  const here = isoSecond(now);
  const clock = certificateClockFailure(text);
  if (clock === "not_yet_valid") {
    return `its certificate is not valid yet by this computer's clock (here ${here}): the clock ` +
      "is behind; set it right (turn on time synchronisation, NTP) and try again";
  }
  if (clock === "expired") {
    return `its certificate has expired by this computer's clock (here ${here}): if the clock is ` +
      "ahead, set it right (turn on time synchronisation, NTP); if it is right, the cloud's " +
      "certificate needs renewing (tell whoever runs the cloud)";
  }
  if (
    /UnknownIssuer|unknown issuer|self[- ]signed|unable to verify the first certificate|unable to get local issuer|UNABLE_TO_VERIFY_LEAF_SIGNATURE/i
      .test(text)
  ) {
    return "its certificate is not from an authority this computer trusts (a proxy that " +
      "inspects TLS between here and the cloud, or a cloud with a private certificate)" +
      (hints.caFlag ? `: give that authority's certificate with ${hints.caFlag}` : "");
  }
  const name = /not valid for name "([^"]*)"(?:; certificate is only valid for (.*?))?(?: \||$)/i
    .exec(text);
  if (name) {
    // rustls names the certificate's names as Rust values: IpAddress(…), DnsName("…").
    const names = name[2]?.replace(/IpAddress\(([^)]*)\)/g, "$1").replace(
      /DnsName\("([^"]*)"\)/g,
      "$1",
    );
    return `its certificate is not for ${name[1]}` + (names ? ` (it is for ${names})` : "") +
      ": check the URL";
  }
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/i.test(text)) {
    return `its certificate is not for this host name: check the URL (${innermost(all)})`;
  }
  const refused = /invalid peer certificate: ([^|]*)/i.exec(text);
  if (refused) return `its certificate was refused (${refused[1].trim()})`;
  if (/proxy authentication required/i.test(text)) {
    return "the proxy (HTTPS_PROXY or HTTP_PROXY) asks for credentials: put them in its URL, " +
      "http://user:password@host:port";
  }
  if (/proxy server unreachable/i.test(text)) {
    return "the proxy (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) does not answer: check its address " +
      "and that it runs";
  }
  if (/connection refused/i.test(text)) {
    return "connection refused: nothing listens there; check the URL's port and that the cloud " +
      "is running";
  }
  if (
    /dns error|failed to lookup address|name or service not known|nodename nor servname/i.test(
      text,
    )
  ) {
    return "its name does not resolve: check the URL, and this computer's DNS";
  }
  if (/TimeoutError|timed out/i.test(text)) {
    return "no answer in time: is a firewall dropping the connection, or an outbound proxy " +
      "required here?";
  }
  return innermost(all);
}

/** The most specific message, without the HTTP client's "error sending request…:" prefixes. */
function innermost(all: string[]): string {
  const last = all.at(-1) ?? "unknown error";
  return last.replace(/^error sending request .*?\): /i, "")
    .replace(/^client error \([A-Za-z]+\): /i, "")
    .trim() || last;
}

/**
 * An answer that is not the cloud's (its answers are JSON; its errors carry a message): a company
 * proxy that inspects TLS and blocks WebSockets, or a network's sign-in page, answers with its own
 * page, which said as it came was a screenful of HTML — or, with a 200, taken for the cloud's.
 * Named as such, with the page's first words. `websocket`: the answer was to an upgrade.
 */
export function notTheCloud(
  status: number,
  server: string | undefined | null,
  body: string,
  o: { websocket?: boolean } = {},
): string {
  const words = body.replace(/<(script|style)[^>]*>[\s\S]*?<\/\1>/gi, " ")
    .replace(/<[^>]*>/g, " ").replace(/&nbsp;/g, " ").replace(/\s+/g, " ").trim();
  const snippet = words.length > 160 ? `${words.slice(0, 160)}…` : words;
  return `HTTP ${status}${server ? ` (Server: ${server.slice(0, 60)})` : ""} from something ` +
    "that is not the cloud: " +
    (o.websocket
      ? "a proxy or firewall between here and the cloud that does not let WebSockets through"
      : "a proxy or firewall between here and the cloud, or this network's sign-in page") +
    ", or a --cloud URL that is not a Nanodems cloud" +
    (snippet ? `; it said: "${snippet}"` : "");
}
