// Proxy selection from the environment and proxy URL parsing; a CONNECT through a real proxy on
// loopback (tests/_fixtures/connect_proxy.ts) and through a SOCKS5 one (socks_proxy.ts): bytes both
// ways, credentials, each refusal named.
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
import { startSocksProxy } from "../../../_fixtures/socks_proxy.ts";

/** A one-shot echo on `hostname`: each connection's first read is written back, then closed. */
function echo(hostname: string) {
  const l = Deno.listen({ hostname, port: 0 });
  const done = (async () => {
    for await (const c of l) {
      (async () => {
        const b = new Uint8Array(64);
        const n = await c.read(b);
        if (n) await c.write(b.subarray(0, n));
        c.close();
      })();
    }
  })();
  return { port: (l.addr as Deno.NetAddr).port, close: () => (l.close(), done.catch(() => {})) };
}

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
  const target = echo("127.0.0.1");
  const tport = target.port;
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
    await target.close();
  }
});

Deno.test("parseProxyUrl: socks5:// and socks5h:// for a caller that takes SOCKS (the CLI); the agent's refuses them", () => {
  assertEquals(parseProxyUrl("socks5h://op%40s:pw@127.0.0.1:1080", { socks: true }), {
    display: "socks5://127.0.0.1:1080",
    host: "127.0.0.1",
    port: 1080,
    auth: { username: "op@s", password: "pw" },
    socks: true,
  });
  assertEquals(parseProxyUrl("socks5://127.0.0.1", { socks: true }).port, 1080);
  assertEquals(
    parseProxyUrl("socks5://127.0.0.1", { socks: true }).display,
    "socks5://127.0.0.1:1080",
  );
  const agent = assertThrowsProxy(() => parseProxyUrl("socks5://127.0.0.1:1080"));
  assertStringIncludes(agent, "only http:// proxies (HTTP CONNECT) are supported, got socks5:");
  const cli = assertThrowsProxy(() => parseProxyUrl("socks4://127.0.0.1:1080", { socks: true }));
  assertStringIncludes(cli, "only http:// (HTTP CONNECT) and socks5:// proxies are supported");
});

Deno.test("proxyFromEnv: ALL_PROXY when the scheme's own variable is unset, for the CLI as fetch reads it", () => {
  const env = { ALL_PROXY: "socks5h://127.0.0.1:1080" };
  assertEquals(
    wsProxy(new URL("wss://cloud.example.com/"), env)?.display,
    "socks5://127.0.0.1:1080",
  );
  assertEquals(
    wsProxy(new URL("ws://cloud.example.com/"), { all_proxy: "http://p:3128" })?.port,
    3128,
  );
  const both = { ALL_PROXY: "socks5://127.0.0.1:1080", HTTPS_PROXY: "http://p:3128" };
  assertEquals(wsProxy(new URL("wss://cloud.example.com/"), both)?.display, "http://p:3128");
  assertEquals(
    wsProxy(new URL("wss://cloud.example.com/"), { ...env, NO_PROXY: "example.com" }),
    null,
  );
  // The agent reads HTTPS_PROXY only (its control channel's proxy is grpc-js's, HTTP CONNECT).
  assertEquals(proxyFromEnv("cloud.example.com", env), null);
});

Deno.test("connectViaProxy: SOCKS5 — bytes through, user/password, names, IPv4 and IPv6 sent as such, refusals named", async () => {
  const v4 = echo("127.0.0.1");
  const v6 = echo("::1");
  const open = startSocksProxy();
  const locked = startSocksProxy({ user: "ops", password: "p@ss word" });
  const roundTrip = async (proxy: string, host: string, port: number) => {
    const conn = await connectViaProxy(parseProxyUrl(proxy, { socks: true }), host, port);
    await conn.write(new TextEncoder().encode("hello"));
    const b = new Uint8Array(16);
    const n = await conn.read(b);
    conn.close();
    return new TextDecoder().decode(b.subarray(0, n ?? 0));
  };
  try {
    assertEquals(await roundTrip(open.url, "127.0.0.1", v4.port), "hello");
    assertEquals(await roundTrip(open.url, "localhost", v4.port), "hello");
    assertEquals(await roundTrip(open.url, "::1", v6.port), "hello");
    assertEquals(open.requests, [
      `ipv4 127.0.0.1:${v4.port}`,
      `name localhost:${v4.port}`,
      `ipv6 [0:0:0:0:0:0:0:1]:${v6.port}`,
    ]);
    assertEquals(await roundTrip(locked.url, "127.0.0.1", v4.port), "hello");
    const noCreds = await assertRejects(() =>
      roundTrip(`socks5://127.0.0.1:${locked.port}`, "127.0.0.1", v4.port)
    );
    assert(noCreds instanceof ProxyError);
    assertStringIncludes(noCreds.message, "put them in its URL, socks5://user:password@host:port");
    const wrong = await assertRejects(() =>
      roundTrip(`socks5://ops:nope@127.0.0.1:${locked.port}`, "127.0.0.1", v4.port)
    );
    assertStringIncludes(wrong.message, "refused the credentials in its URL");
    assertEquals(wrong.message.includes("nope"), false, "the password is never shown");
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const refused = await assertRejects(() => roundTrip(open.url, "127.0.0.1", closedPort));
    assertStringIncludes(
      refused.message,
      `the SOCKS proxy socks5://127.0.0.1:${open.port} could not connect to 127.0.0.1:${closedPort}: connection refused`,
    );
    const ruled = await assertRejects(() => roundTrip(open.url, "cloud.example.com", 443));
    assertStringIncludes(
      ruled.message,
      "could not connect to cloud.example.com:443: not allowed by its rules",
    );
  } finally {
    await open.close();
    await locked.close();
    await v4.close();
    await v6.close();
  }
});

/** The message of the ProxyError `fn` throws. */
function assertThrowsProxy(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert(e instanceof ProxyError, String(e));
    return e.message;
  }
  throw new Error("expected a ProxyError");
}

Deno.test("parseProxyUrl: a malformed value is quoted without the password in it", () => {
  const said = assertThrowsProxy(() => parseProxyUrl("http://ops:s3cret@proxy host:3128"));
  assertStringIncludes(said, 'got "http://***@proxy host:3128"');
  assertEquals(said.includes("s3cret"), false);
});
