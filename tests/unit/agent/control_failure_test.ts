// What the agent says when its control stream cannot connect: the runtime's reasons as they
// come (a direct dial raced by cloud_route.ts, or grpc-js through a proxy), each in words a site
// technician can act on; the cloud's own answers are left as the cloud said them.
import { assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import { controlFailureWords } from "../../../src/agent/control_failure.ts";

const EP = "cloud.example.com:9443";

Deno.test("control failure words: each way a connection fails, named with what to check", () => {
  const cases: [string, string][] = [
    [
      "cannot reach cloud.example.com:9443: every address failed (127.0.0.1: Connection refused (os error 111))",
      `${EP} refused the connection: the cloud does not listen there, or a firewall rejects it`,
    ],
    [
      "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ",
      "refused the connection",
    ],
    [
      "cannot reach cloud.example.com:9443: no address found for any control endpoint",
      `the cloud's name in ${EP} does not resolve here: check this machine's DNS`,
    ],
    ["Name resolution failed for target dns:cloud.example.com:9443", "does not resolve here"],
    [
      "cannot reach cloud.example.com:9443: every address failed (127.0.0.1: Connection timed out (os error 110))",
      `no answer from ${EP}: a firewall drops the connection`,
    ],
    [
      "cannot reach cloud.example.com:9443: every address failed (127.0.0.1: invalid peer certificate: UnknownIssuer)",
      `${EP} answered with a certificate that is not the cloud's: a proxy that inspects TLS`,
    ],
    [
      "No connection established. Last error: Error: self-signed certificate. Resolution note: ",
      "ask for that address to be exempt from inspection",
    ],
    [
      "cannot reach cloud.example.com:9443: every address failed (127.0.0.1: unexpected end of file)",
      `the connection to ${EP} was cut before the cloud answered`,
    ],
    [
      "cannot reach cloud.example.com:9443: every address failed (127.0.0.1: received corrupt message of type InvalidContentType)",
      "or that port is not the cloud's control port",
    ],
    [
      "No connection established. Last error: Error: Client network socket disconnected before secure TLS connection was established. Resolution note: ",
      "was cut before the cloud answered",
    ],
  ];
  for (const [reason, words] of cases) {
    const got = controlFailureWords(reason, EP);
    assertStringIncludes(got ?? "(none)", words, reason);
  }
});

Deno.test("control failure words: the cloud's own answers and clock failures are not rewritten", () => {
  for (
    const reason of [
      "the cloud cannot reach its database; try again shortly",
      "agent revoked",
      "invalid peer certificate: certificate not valid yet",
      "stream ended by the cloud",
    ]
  ) {
    assertEquals(controlFailureWords(reason, EP), null, reason);
  }
});
