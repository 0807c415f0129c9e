// Which requests the browser made over https (browser_scheme.ts): the proxy's word, or the
// https public URL's own host and port, or a device origin under the proxy domain.
import { assertEquals } from "../../../_fixtures/assert.ts";
import { reachedOverHttps } from "../../../../src/cloud/api/browser_scheme.ts";

Deno.test("reached over https: X-Forwarded-Proto, or the https public URL's host and port", () => {
  const pub = "https://cloud.example.test";
  const cases: [Parameters<typeof reachedOverHttps>[0], string, string | undefined, boolean][] = [
    [{ host: "cloud.example.test" }, pub, undefined, true],
    [{ host: "CLOUD.example.test:443" }, pub, undefined, true],
    [{ host: "cloud.example.test:8080" }, pub, undefined, false], // the node's own port
    [{ host: "node-1.internal:8080" }, pub, undefined, false], // the node by its own name
    [{ host: "cloud.example.test" }, "http://cloud.example.test", undefined, false],
    [{ host: "cloud.example.test:8443" }, "https://cloud.example.test:8443", undefined, true],
    [{ host: "node-1.internal", forwardedProto: "https" }, "http://x", undefined, true],
    [{ host: "node-1.internal", forwardedProto: "https, http" }, "http://x", undefined, true],
    [{ host: "node-1.internal", forwardedProto: "http" }, "http://x", undefined, false],
    [{ host: "node-1.internal", encrypted: true }, "http://x", undefined, true],
    [{}, pub, undefined, false],
    [{ host: "bad host" }, pub, undefined, false],
    // Device origins under --proxy-domain, on the public URL's port.
    [{ host: "h-abc.dev.example.test" }, pub, "dev.example.test", true],
    [{ host: "h-abc.dev.example.test:8080" }, pub, "dev.example.test", false],
    [{ host: "dev.example.test" }, pub, "dev.example.test", false],
    [{ host: "h-abc.evil.test" }, pub, "dev.example.test", false],
  ];
  for (const [r, publicUrl, domain, want] of cases) {
    assertEquals(reachedOverHttps(r, publicUrl, domain), want, JSON.stringify([r, publicUrl]));
  }
});
