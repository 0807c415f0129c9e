// Proxy selection from the environment and proxy URL parsing; a CONNECT through a real proxy on
// loopback (tests/_fixtures/connect_proxy.ts): bytes both ways, credentials, each refusal named.
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../../_fixtures/assert.ts";
import {
  basicAuthHeader,
  bypassesProxy,
  connectViaProxy,
  parseProxyUrl,
  ProxyError,
  proxyFromEnv,
} from "../../../../src/shared/transport/proxy.ts";
import { wsProxy } from "../../../../src/shared/transport/ws_connect.ts";
import { startConnectProxy } from "../../../_fixtures/connect_proxy.ts";

Deno.test("parseProxyUrl: host, port, decoded Basic credentials; only http://", () => {
  assertEquals(parseProxyUrl("http://us%40er:p%3Ass@proxy.example.com:3128"), {
    display: "http://proxy.example.com:3128",
    host: "proxy.example.com",
    port: 3128,
    auth: { username: "us@er", password: "p:ss" },
  });
  assertEquals(parseProxyUrl("192.0.2.5:8080").port, 8080);
  assertEquals(parseProxyUrl("http://[2001:db8::5]").host, "2001:db8::5");
  assertEquals(parseProxyUrl("http://[2001:db8::5]").port, 80);
  let err: unknown;
  try {
    parseProxyUrl("https://proxy.example.com");
  } catch (e) {
    err = e;
  }
  assert(err instanceof ProxyError);
  assertEquals(basicAuthHeader({ username: "u", password: "p" }), "Basic dTpw");
});

Deno.test("NO_PROXY: *, exact names, domain suffixes, IPs, ports ignored", () => {
  assert(bypassesProxy("anything", "*"));
  assert(bypassesProxy("cloud.example.com", "example.com"));
  assert(bypassesProxy("cloud.example.com", ".example.com"));
  assert(bypassesProxy("cloud.example.com", "other, cloud.example.com:8443"));
  assert(bypassesProxy("127.0.0.1", "localhost,127.0.0.1"));
  assert(bypassesProxy("::1", "[::1]"));
  assert(!bypassesProxy("cloud.example.com", "ample.com"));
  assert(!bypassesProxy("cloud.example.com", undefined));
});

Deno.test("proxyFromEnv: HTTPS_PROXY or https_proxy unless NO_PROXY lists the host", () => {
  assertEquals(proxyFromEnv("cloud.example.com", {}), null);
  assertEquals(
    proxyFromEnv("cloud.example.com", { https_proxy: "http://192.0.2.5:3128" })?.host,
    "192.0.2.5",
  );
  assertEquals(
    proxyFromEnv("cloud.example.com", {
      HTTPS_PROXY: "http://192.0.2.5:3128",
      NO_PROXY: ".example.com",
    }),
    null,
  );
  assertEquals(
    proxyFromEnv("cloud.example.com", { HTTP_PROXY: "http://192.0.2.5:3128" }),
    null,
    "HTTP_PROXY is for plain HTTP only",
  );
});

Deno.test("NO_PROXY: CIDRs, bare IPv6 and bracketed entries with ports", () => {
  assert(bypassesProxy("127.0.0.2", "127.0.0.0/8"));
  assert(!bypassesProxy("10.1.2.3", "127.0.0.0/8"));
  assert(bypassesProxy("::1", "::1"));
  assert(bypassesProxy("[::1]", "[::1]:8080"));
  assert(bypassesProxy("CLOUD.example.com", "cloud.EXAMPLE.com"));
  assert(!bypassesProxy("127.0.0.1", "0.0.0.1"), "an IP is not a domain suffix");
  assert(!bypassesProxy("cloud.example.com", "bad/99"));
});

Deno.test("proxyFromEnv: HTTP_PROXY for a plain-HTTP cloud; wsProxy reads them as fetch does", () => {
  assertEquals(
    proxyFromEnv("cloud.example.com", { http_proxy: "proxy.example.test:8080" }, true)?.port,
    8080,
  );
  assertEquals(proxyFromEnv("cloud.example.com", { HTTPS_PROXY: "http://p:1" }, true), null);
  const env = { HTTPS_PROXY: "http://ops:s3cret@proxy.example.test:3128" };
  const p = wsProxy(new URL("wss://127.0.0.1:8080/api/tunnel/h"), env);
  // No exception for loopback: fetch makes none, and a client's requests and tunnels must agree.
  assertEquals(p?.display, "http://proxy.example.test:3128");
  assertEquals(p?.auth, { username: "ops", password: "s3cret" });
  assertEquals(wsProxy(new URL("ws://127.0.0.1:8080/"), env), null, "ws: reads HTTP_PROXY");
});

Deno.test("connectViaProxy: bytes through a real CONNECT proxy; credentials; refusals named", async () => {
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
      const conn = await connectViaProxy(parseProxyUrl(proxy.url), "127.0.0.1", tport);
      await conn.write(new TextEncoder().encode("hello"));
      const b = new Uint8Array(16);
      const n = await conn.read(b);
      assertEquals(new TextDecoder().decode(b.subarray(0, n ?? 0)), "hello");
      conn.close();
      assertEquals(proxy.carried, [`127.0.0.1:${tport}`]);
    }
    const noCreds = await assertRejects(() =>
      connectViaProxy(parseProxyUrl(`http://127.0.0.1:${locked.port}`), "127.0.0.1", tport)
    );
    assert(noCreds instanceof ProxyError);
    assertStringIncludes(noCreds.message, "wants credentials (407); put them in the proxy URL");
    const wrong = await assertRejects(() =>
      connectViaProxy(parseProxyUrl(`http://ops:nope@127.0.0.1:${locked.port}`), "127.0.0.1", tport)
    );
    assertStringIncludes(wrong.message, "wants credentials (407); it refused those");
    assertEquals(wrong.message.includes("nope"), false, "the password is never shown");
    const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const gonePort = (gone.addr as Deno.NetAddr).port;
    gone.close();
    const unreachable = await assertRejects(() =>
      connectViaProxy(parseProxyUrl(`http://127.0.0.1:${gonePort}`), "127.0.0.1", tport)
    );
    assertStringIncludes(
      unreachable.message,
      `cannot reach the proxy http://127.0.0.1:${gonePort}`,
    );
  } finally {
    await open.close();
    await locked.close();
    target.close();
    await echoed.catch(() => {});
  }
});
