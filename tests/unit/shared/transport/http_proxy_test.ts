/**
 * `http_proxy.ts`: which proxy the environment names for a URL (as `fetch` reads HTTPS_PROXY,
 * HTTP_PROXY and NO_PROXY), and a CONNECT through a real proxy on loopback
 * (tests/_fixtures/connect_proxy.ts): bytes both ways, credentials, and each refusal in words.
 */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../../_fixtures/assert.ts";
import {
  bypassed,
  connectVia,
  ProxyError,
  proxyFor,
  proxyShown,
} from "../../../../src/shared/transport/http_proxy.ts";
import { startConnectProxy } from "../../../_fixtures/connect_proxy.ts";

Deno.test("proxy for: HTTPS_PROXY for wss and https, HTTP_PROXY for ws and http, either spelling", () => {
  const env = { HTTPS_PROXY: "http://secure.proxy.test:3128", http_proxy: "plain.proxy.test:8080" };
  assertEquals(
    proxyFor(new URL("wss://cloud.example.test/x"), env)?.host,
    "secure.proxy.test:3128",
  );
  assertEquals(
    proxyFor(new URL("https://cloud.example.test/"), env)?.host,
    "secure.proxy.test:3128",
  );
  assertEquals(
    proxyFor(new URL("ws://cloud.example.test/"), env)?.href,
    "http://plain.proxy.test:8080/",
  );
  assertEquals(proxyFor(new URL("wss://cloud.example.test/"), {}), null);
  assertEquals(proxyFor(new URL("wss://cloud.example.test/"), { HTTPS_PROXY: "  " }), null);
  // No exception for loopback: fetch makes none either, and the two must agree.
  assert(proxyFor(new URL("wss://127.0.0.1:8080/"), env));
  // A value that is no http:// proxy is refused, naming the variable.
  for (const bad of ["socks5://p.test:1080", "https://p.test:443", "http://[bad"]) {
    const e = (() => {
      try {
        proxyFor(new URL("wss://c.test/"), { HTTPS_PROXY: bad });
      } catch (e) {
        return e as Error;
      }
    })();
    assert(e instanceof ProxyError, bad);
    assertStringIncludes(e.message, "HTTPS_PROXY");
  }
  // Credentials stay out of what is shown.
  assertEquals(proxyShown(new URL("http://u:secret@p.test:3128")), "http://p.test:3128");
});

Deno.test("proxy for: NO_PROXY by name, domain, IP, CIDR and *", () => {
  const cases: [string, string, boolean][] = [
    ["cloud.example.test", "cloud.example.test", true],
    ["cloud.example.test", "example.test", true],
    ["cloud.example.test", ".example.test", true],
    ["cloud.example.test", "*.example.test", true],
    ["cloud.example.test", "ample.test", false],
    ["cloud.example.test", "other.test, cloud.example.test:443", true],
    ["CLOUD.example.test", "cloud.EXAMPLE.test", true],
    ["127.0.0.1", "127.0.0.1", true],
    ["127.0.0.2", "127.0.0.0/8", true],
    ["10.1.2.3", "127.0.0.0/8", false],
    ["::1", "::1", true],
    ["[::1]", "[::1]:8080", true],
    ["anything.test", "*", true],
    ["anything.test", "", false],
  ];
  for (const [host, list, want] of cases) {
    assertEquals(bypassed(host, list), want, `${host} / ${list}`);
  }
  const env = { HTTPS_PROXY: "http://p.test:3128", no_proxy: "127.0.0.1" };
  assertEquals(proxyFor(new URL("wss://127.0.0.1/"), env), null);
});

Deno.test("connect via: a CONNECT tunnel carries bytes; credentials; refusals named", async () => {
  const target = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const tport = (target.addr as Deno.NetAddr).port;
  const echoed = (async () => {
    for await (const c of target) {
      (async () => {
        const b = new Uint8Array(64);
        const n = await c.read(b);
        if (n) await c.write(b.subarray(0, n));
        c.close();
      })();
    }
  })();
  const open = startConnectProxy();
  const locked = startConnectProxy({ user: "ops", password: "p@ss word" });
  try {
    for (const proxy of [open, locked]) {
      const conn = await connectVia(new URL(proxy.url), "127.0.0.1", tport);
      await conn.write(new TextEncoder().encode("hello"));
      const b = new Uint8Array(16);
      const n = await conn.read(b);
      assertEquals(new TextDecoder().decode(b.subarray(0, n ?? 0)), "hello");
      conn.close();
      assertEquals(proxy.carried, [`127.0.0.1:${tport}`]);
    }
    const noCreds = await assertRejects(() =>
      connectVia(new URL(`http://127.0.0.1:${locked.port}`), "127.0.0.1", tport)
    );
    assert(noCreds instanceof ProxyError);
    assertStringIncludes(noCreds.message, "asks for credentials (407): put them in the proxy URL");
    const wrong = await assertRejects(() =>
      connectVia(new URL(`http://ops:nope@127.0.0.1:${locked.port}`), "127.0.0.1", tport)
    );
    assertStringIncludes(wrong.message, "asks for credentials (407): it refused those");
    assertEquals(wrong.message.includes("nope"), false, "the password is never shown");
    // A proxy that is not there.
    const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const gonePort = (gone.addr as Deno.NetAddr).port;
    gone.close();
    const unreachable = await assertRejects(() =>
      connectVia(new URL(`http://127.0.0.1:${gonePort}`), "127.0.0.1", tport)
    );
    assertStringIncludes(
      unreachable.message,
      `cannot reach the proxy at http://127.0.0.1:${gonePort}`,
    );
  } finally {
    await open.close();
    await locked.close();
    target.close();
    await echoed.catch(() => {});
  }
});
