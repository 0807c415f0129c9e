/**
 * `reachFailure`: the reason a connection to the cloud failed, from the error the runtime threw.
 * The inputs are the runtime's own wording, as captured from real failures (fetch's cause chain,
 * rustls through `Deno.connectTls`, node:tls through `ws`); the real processes are in
 * tests/e2e/cloud_tls_trust_test.ts.
 */
import { assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { notTheCloud, reachFailure } from "../../../src/shared/reach_error.ts";

const NOW = Date.UTC(2026, 11, 5, 6, 0, 0);

/** A fetch failure as Deno throws it: TypeError "fetch failed" with the client's error as cause. */
function fetchFailed(inner: string): TypeError {
  return new TypeError("fetch failed", {
    cause: new Error(`error sending request for url (https://cloud.example.test/api/x): ${inner}`),
  });
}

Deno.test("reach failure: a certificate by a wrong clock names the clock and this computer's time", () => {
  const yet = reachFailure(
    fetchFailed(
      "client error (Connect): invalid peer certificate: certificate not valid yet: verification " +
        "time 1796447176 (UNIX), but certificate is not valid before 1796706073 (258897 seconds in future)",
    ),
    NOW,
  );
  assertStringIncludes(yet, "not valid yet by this computer's clock (here 2026-12-05T06:00:00Z)");
  assertStringIncludes(yet, "the clock is behind");
  const expired = reachFailure(
    new Error(
      "invalid peer certificate: certificate expired: verification time 1796447179 (UNIX), but " +
        "certificate is not valid after 1721279176 (75168003 seconds ago)",
    ),
    NOW,
  );
  assertStringIncludes(expired, "has expired by this computer's clock (here 2026-12-05T06:00:00Z)");
  // node:tls (the terminal's WebSocket) words them its own way.
  const nodeYet = Object.assign(new Error("certificate is not yet valid"), {
    code: "CERT_NOT_YET_VALID",
  });
  assertStringIncludes(reachFailure(nodeYet, NOW), "not valid yet by this computer's clock");
  const nodeExpired = Object.assign(new Error("certificate has expired"), {
    code: "CERT_HAS_EXPIRED",
  });
  assertStringIncludes(reachFailure(nodeExpired, NOW), "has expired by this computer's clock");
});

Deno.test("reach failure: an unknown authority points at a TLS-inspecting proxy and the flag", () => {
  for (
    const e of [
      fetchFailed("client error (Connect): invalid peer certificate: UnknownIssuer"),
      new Error("invalid peer certificate: UnknownIssuer"),
      Object.assign(new Error("unable to verify the first certificate"), {
        code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
      }),
      new Error("self-signed certificate in certificate chain"),
    ]
  ) {
    const r = reachFailure(e, NOW, { caFlag: "--ca-file FILE" });
    assertStringIncludes(r, "not from an authority this computer trusts");
    assertStringIncludes(r, "give that authority's certificate with --ca-file FILE");
    // Without a flag to offer (the agent), the cause alone.
    assertEquals(reachFailure(e, NOW).includes("--ca-file"), false);
  }
});

Deno.test("reach failure: a wrong name, a refused port, a name that does not resolve, a timeout", () => {
  assertEquals(
    reachFailure(
      new Error(
        'invalid peer certificate: certificate not valid for name "localhost"; certificate is ' +
          "only valid for IpAddress(127.0.0.1)",
      ),
      NOW,
    ),
    "its certificate is not for localhost (it is for 127.0.0.1): check the URL",
  );
  assertEquals(
    reachFailure(
      new Error(
        'invalid peer certificate: certificate not valid for name "cloud.example.test"; ' +
          'certificate is only valid for DnsName("a.example.test") or DnsName("b.example.test")',
      ),
      NOW,
    ),
    "its certificate is not for cloud.example.test (it is for a.example.test or b.example.test): " +
      "check the URL",
  );
  assertStringIncludes(
    reachFailure(
      Object.assign(new Error("Connection refused (os error 111)"), { code: "ECONNREFUSED" }),
    ),
    "connection refused: nothing listens there",
  );
  assertStringIncludes(
    reachFailure(
      fetchFailed(
        "client error (Connect): dns error: failed to lookup address information: Name or " +
          "service not known",
      ),
    ),
    "its name does not resolve",
  );
  assertStringIncludes(
    reachFailure(new DOMException("Signal timed out.", "TimeoutError")),
    "no answer in time",
  );
  assertStringIncludes(
    reachFailure(fetchFailed("client error (Connect): proxy authentication required")),
    "the proxy (HTTPS_PROXY or HTTP_PROXY) asks for credentials: put them in its URL",
  );
});

Deno.test("reach failure: anything else is the innermost cause without the HTTP client's prefixes", () => {
  assertEquals(
    reachFailure(
      new TypeError("fetch failed", {
        cause: new Error(
          "error sending request from 127.0.0.1:57940 for https://127.0.0.1:34921/api/x " +
            "(127.0.0.1:34921): client error (SendRequest): connection closed before message completed",
        ),
      }),
    ),
    "connection closed before message completed",
  );
  assertEquals(reachFailure("socket hang up"), "socket hang up");
  // A cause chain that loops ends.
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assertEquals(reachFailure(a), "b");
});

Deno.test("reachFailure: a proxy that does not answer is named as the proxy, not the cloud", () => {
  const e = new TypeError("fetch failed", {
    cause: new Error("client error (Connect): Proxy server unreachable"),
  });
  assertEquals(
    reachFailure(e),
    "the proxy (HTTPS_PROXY, HTTP_PROXY or ALL_PROXY) does not answer: check its address and " +
      "that it runs",
  );
});

Deno.test("notTheCloud: a proxy's page is named as not the cloud's answer, with its first words", () => {
  const said = notTheCloud(
    403,
    "Zscaler/6.2",
    "<html><head><script>var x = 1;</script><style>p{}</style></head><body><h1>Website blocked</h1>" +
      "<p>Not allowed&nbsp;to browse</p></body></html>",
    { websocket: true },
  );
  assertStringIncludes(said, "that does not let WebSockets through");
  assertStringIncludes(said, "HTTP 403 (Server: Zscaler/6.2) from something that is not the cloud");
  assertStringIncludes(said, 'it said: "Website blocked Not allowed to browse"');
  assertEquals(said.includes("var x"), false);
  assertStringIncludes(notTheCloud(200, null, ""), "or this network's sign-in page");
  assertEquals(notTheCloud(200, undefined, "").endsWith("not a Nanodems cloud"), true);
  assertEquals(
    notTheCloud(502, undefined, "x".repeat(500)).includes(`"${"x".repeat(160)}…"`),
    true,
  );
});
