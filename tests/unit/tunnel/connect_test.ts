import { assertEquals } from "../../_fixtures/assert.ts";
import { maskFree } from "../../../src/tunnel/connect.ts";

Deno.test("CLI frames go unmasked only over TLS or on loopback", () => {
  assertEquals(maskFree(new URL("wss://cloud.example.com/api/cli/raw-tunnel/127.0.0.2/80")), true);
  assertEquals(maskFree(new URL("ws://127.0.0.1:8080/x")), true);
  assertEquals(maskFree(new URL("ws://127.3.4.5:8080/x")), true);
  assertEquals(maskFree(new URL("ws://localhost:8080/x")), true);
  assertEquals(maskFree(new URL("ws://[::1]:8080/x")), true);
  assertEquals(maskFree(new URL("ws://192.0.2.10:8080/x")), false);
  assertEquals(maskFree(new URL("ws://cloud.example.com/x")), false);
});
