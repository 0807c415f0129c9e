// A public URL that is plain http to another machine is warned about at start; loopback
// (development) and https are not.
import { assertEquals } from "../../_fixtures/assert.ts";
import { plainOverNetwork } from "../../../src/cloud/public_url.ts";

Deno.test("plainOverNetwork: http to another machine only", () => {
  const cases: [string, boolean][] = [
    ["http://connector.example.com", true],
    ["http://connector.example.com:8080/", true],
    ["https://connector.example.com", false],
    ["http://localhost:8080", false],
    ["http://127.0.0.1:8080", false],
    ["http://[::1]:8080", false],
    ["not a url", false],
  ];
  for (const [url, want] of cases) assertEquals(plainOverNetwork(url), want, url);
});
