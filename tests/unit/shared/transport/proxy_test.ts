// Proxy selection from the environment and proxy URL parsing.
import { assert, assertEquals } from "../../../_fixtures/assert.ts";
import {
  basicAuthHeader,
  bypassesProxy,
  parseProxyUrl,
  ProxyError,
  proxyFromEnv,
} from "../../../../src/shared/transport/proxy.ts";

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
