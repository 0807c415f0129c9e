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

Deno.test("reached over https: remembered hosts answer as before, however many a client sends", () => {
  // Hosts are parsed once and remembered (a bounded memo): a repeat, a different public URL for
  // the same host, and more hosts than are remembered all keep their answers.
  const pub = "https://cloud.example.test";
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 600; i++) {
      const host = `h-${i}.dev.example.test`;
      assertEquals(reachedOverHttps({ host }, pub, "dev.example.test"), true, host);
      assertEquals(reachedOverHttps({ host }, pub, "other.example.test"), false, host);
      assertEquals(
        reachedOverHttps({ host }, "http://cloud.example.test", "dev.example.test"),
        false,
      );
    }
    assertEquals(reachedOverHttps({ host: "cloud.example.test" }, pub), true);
    assertEquals(reachedOverHttps({ host: "cloud.example.test" }, "https://other.test"), false);
  }
});
