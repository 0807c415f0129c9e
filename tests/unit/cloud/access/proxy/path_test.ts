import { assertEquals } from "../../../../_fixtures/assert.ts";
import { parseProxyPath } from "../../../../../src/cloud/access/proxy/path.ts";

const H = "h-abcdefghijklmnopqrstuv";

Deno.test("proxy path: the device path is what follows the handle, query kept", () => {
  assertEquals(parseProxyPath(`/c/${H}/doc/page/login.asp?a=1&b=%2F`), {
    ok: true,
    handle: H,
    devicePath: "/doc/page/login.asp?a=1&b=%2F",
  });
  assertEquals(parseProxyPath(`/c/${H}/`), { ok: true, handle: H, devicePath: "/" });
});

Deno.test("proxy path: a bare handle is redirected under its prefix", () => {
  assertEquals(parseProxyPath(`/c/${H}?x=1`), {
    ok: false,
    redirect: `/c/${H}/?x=1`,
    message: "moved",
  });
});

Deno.test("proxy path: every spelling of a climb out of the prefix is refused", () => {
  for (
    const p of [
      "..",
      "../x",
      "a/../../b",
      "%2e%2e/x",
      "%2E%2e/x",
      ".%2e/x",
      "a%2fb",
      "a%2F..%2Fb",
      "%252e%252e/x",
      "%25252e%25252e/x",
      "a%5cb",
      "a%255cb",
      "a\\b",
      ".",
      "./x",
      "a%00b",
    ]
  ) {
    const r = parseProxyPath(`/c/${H}/${p}`);
    assertEquals(r.ok, false, p);
  }
});

Deno.test("proxy path: malformed handles are unknown", () => {
  for (const h of ["x", "h-", "h-short", "h-bad*chars1234", "../api"]) {
    assertEquals(parseProxyPath(`/c/${h}/`), { ok: false, message: "unknown handle" }, h);
  }
});
