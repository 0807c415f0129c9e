// One reading of "this machine's loopback" for enrollment, the CLI's listeners and the cloud's
// start-up checks.
import { assertEquals } from "../../_fixtures/assert.ts";
import { isLoopbackHost } from "../../../src/shared/loopback.ts";

Deno.test("isLoopbackHost: localhost, 127.0.0.0/8 and ::1, bracketed or not", () => {
  for (const h of ["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "::1", "[::1]"]) {
    assertEquals(isLoopbackHost(h), true, h);
  }
  for (const h of ["connector.example.com", "127.example.com", "0.0.0.0", "::", "localhost.com"]) {
    assertEquals(isLoopbackHost(h), false, h);
  }
});
