/**
 * `listen_error.ts`: a refused bind, as Deno and node report it, becomes one sentence naming the
 * flag, the address and what to do; any other error passes through unchanged. The real refusal
 * of each of the cloud's listeners is in tests/e2e/cloud_ports_taken_test.ts.
 */
import { assertEquals, assertStringIncludes } from "../../_fixtures/assert.ts";
import {
  bindFailure,
  listening,
  refusalOfExit,
  RELAY_BIND_EXIT,
} from "../../../src/cloud/listen_error.ts";

Deno.test("bind failure: in use, from a real Deno listener and from node's wording", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    const at = { hostname: "127.0.0.1", port };
    let thrown: unknown;
    try {
      await listening("http", at, () => Deno.listen(at));
    } catch (e) {
      thrown = e;
    }
    const msg = (thrown as Error).message;
    assertStringIncludes(
      msg,
      `cannot listen on 127.0.0.1:${port} (--http): the address is already in use`,
    );
    assertStringIncludes(msg, `ss -ltnp 'sport = :${port}'`);
    assertStringIncludes(msg, "give --http another HOST:PORT");
  } finally {
    held.close();
  }
  const node = Object.assign(new Error("listen EADDRINUSE: address already in use 0.0.0.0:7443"), {
    code: "EADDRINUSE",
  });
  assertStringIncludes(
    bindFailure("internal", { hostname: "0.0.0.0", port: 7443 }, node)!.message,
    "cannot listen on 0.0.0.0:7443 (--internal): the address is already in use",
  );
});

Deno.test("bind failure: permission and a missing address say what to do", () => {
  const denied = bindFailure(
    "rtsp",
    { hostname: "0.0.0.0", port: 554 },
    new Deno.errors.PermissionDenied("Permission denied (os error 13)"),
  )!.message;
  assertStringIncludes(denied, "cannot listen on 0.0.0.0:554 (--rtsp): permission denied");
  assertStringIncludes(denied, "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability");
  const missing = bindFailure(
    "control",
    { hostname: "::2", port: 8443 },
    Object.assign(new Error("listen EADDRNOTAVAIL"), { code: "EADDRNOTAVAIL" }),
  )!.message;
  assertStringIncludes(
    missing,
    "cannot listen on [::2]:8443 (--control): this machine has no address ::2",
  );
});

Deno.test("bind failure: other errors pass through; the control relay's exit codes round-trip", async () => {
  assertEquals(bindFailure("http", { hostname: "127.0.0.1", port: 1 }, new Error("boom")), null);
  const other = new Error("not a bind");
  let thrown: unknown;
  try {
    await listening("http", { hostname: "127.0.0.1", port: 1 }, () => {
      throw other;
    });
  } catch (e) {
    thrown = e;
  }
  assertEquals(thrown, other);
  for (const [refusal, code] of Object.entries(RELAY_BIND_EXIT)) {
    assertEquals(refusalOfExit(code), refusal);
  }
  assertEquals(refusalOfExit(0), null);
  assertEquals(refusalOfExit(1), null);
});
