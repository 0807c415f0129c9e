import { assertEquals } from "../../../../_fixtures/assert.ts";
import {
  type DeviceOrigin,
  foreignRedirect,
  placeUrl,
  requestHeadersToDevice,
  responseHeadersToBrowser,
  rewriteSetCookie,
  urlToProxy,
} from "../../../../../src/cloud/access/proxy/headers.ts";

const dev: DeviceOrigin = { scheme: "http", host: "192.0.2.10", port: 8080 };
const P = "/c/h-abcdefghijklmnopqrstuv";

Deno.test("urlToProxy: root-relative and device-absolute URLs move; others stay", () => {
  assertEquals(urlToProxy("/doc/x.asp?a=1", P, dev), `${P}/doc/x.asp?a=1`);
  assertEquals(urlToProxy(`${P}/already`, P, dev), `${P}/already`);
  assertEquals(urlToProxy("http://192.0.2.10:8080/a", P, dev), `${P}/a`);
  assertEquals(urlToProxy("//192.0.2.10:8080/a", P, dev), `${P}/a`);
  assertEquals(urlToProxy("http://192.0.2.10:8080", P, dev), `${P}/`);
  assertEquals(urlToProxy("https://example.com/a", P, dev), "https://example.com/a");
  assertEquals(urlToProxy("//evil.example/a", P, dev), "//evil.example/a");
  assertEquals(urlToProxy("relative/x", P, dev), "relative/x");
  assertEquals(urlToProxy("javascript:void(0)", P, dev), "javascript:void(0)");
  const std: DeviceOrigin = { scheme: "http", host: "cam.local", port: 80 };
  assertEquals(urlToProxy("http://cam.local/a", P, std), `${P}/a`);
});

Deno.test("Set-Cookie: Domain dropped, Path forced, prefixed and cloud names refused", () => {
  assertEquals(
    rewriteSetCookie("WebSession=abc; Path=/; Domain=192.0.2.10; HttpOnly", P),
    `WebSession=abc; HttpOnly; Path=${P}/`,
  );
  assertEquals(rewriteSetCookie("__Host-x=1; Path=/; Secure", P), null);
  assertEquals(rewriteSetCookie("__Secure-x=1; Secure", P), null);
  assertEquals(rewriteSetCookie("nc_session=evil", P), null);
  assertEquals(rewriteSetCookie("NC_anything=evil", P), null);
  assertEquals(rewriteSetCookie("=novalue", P), null);
});

Deno.test("request headers: cloud credentials and hop-by-hop gone; Host/Origin/Referer moved", () => {
  const out = requestHeadersToDevice([
    ["Host", "cloud.example"],
    ["Cookie", "nc_session=s; lang=en; __Host-nc_x=1"],
    ["Authorization", "Bearer nt_secret"],
    ["X-License", "0000"],
    ["X-Api-Key", "nk_x"],
    ["X-Admin-Api-Key", "k"],
    ["X-CSRF-Token", "t"],
    ["Connection", "keep-alive, X-Drop"],
    ["X-Drop", "1"],
    ["Keep-Alive", "timeout=5"],
    ["Transfer-Encoding", "chunked"],
    ["Origin", "https://cloud.example"],
    ["Referer", `https://cloud.example${P}/doc/a.asp?x=1`],
    ["Accept", "*/*"],
  ], { device: dev, prefix: P, cloudOrigin: "https://cloud.example" });
  assertEquals(out, [
    ["Host", "192.0.2.10:8080"],
    ["Cookie", "lang=en"],
    ["Origin", "http://192.0.2.10:8080"],
    ["Referer", "http://192.0.2.10:8080/doc/a.asp?x=1"],
    ["Accept", "*/*"],
  ]);
  const basic = requestHeadersToDevice([["Authorization", "Basic YTpi"]], {
    device: dev,
    prefix: P,
    cloudOrigin: "https://cloud.example",
  });
  assertEquals(basic[1], ["Authorization", "Basic YTpi"]);
});

Deno.test("response headers: Location moved, state-changing headers dropped", () => {
  const out = responseHeadersToBrowser([
    ["Location", "http://192.0.2.10:8080/doc/page/main.asp"],
    ["Set-Cookie", "a=1; Path=/"],
    ["Set-Cookie", "nc_session=x"],
    ["Strict-Transport-Security", "max-age=1"],
    ["Clear-Site-Data", '"cookies"'],
    ["Service-Worker-Allowed", "/"],
    ["Content-Security-Policy", "default-src 'self'"],
    ["Refresh", "0; url=/doc/x.asp"],
    ["Content-Type", "text/html"],
  ], { device: dev, prefix: P });
  assertEquals(out, [
    ["Location", `${P}/doc/page/main.asp`],
    ["Set-Cookie", `a=1; Path=${P}/`],
    ["Refresh", `0;url=${P}/doc/x.asp`],
    ["Content-Type", "text/html"],
    ["Referrer-Policy", "same-origin"],
    ["Cross-Origin-Opener-Policy", "unsafe-none"],
  ]);
});

Deno.test("placeUrl reads URLs as a browser does: only the device's own stay, others are foreign", () => {
  const foreign = [
    "//evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example",
    "\t//evil.example",
    "/\n/evil.example",
    "http://192.0.2.1/x",
    "http://192.0.2.10:9/x",
    "javascript:alert(1)",
    "http://[::1",
  ];
  for (const u of foreign) assertEquals(placeUrl(u, P, dev).foreign, true, u);
  assertEquals(placeUrl("/a?b#c", P, dev), { url: `${P}/a?b#c`, foreign: false });
  assertEquals(placeUrl("//192.0.2.10:8080/a", P, dev), { url: `${P}/a`, foreign: false });
  assertEquals(placeUrl("http://192.0.2.10/a", P, dev), { url: `${P}/a`, foreign: false });
  assertEquals(placeUrl("\\a", P, dev), { url: `${P}/a`, foreign: false });
  assertEquals(placeUrl("rel/x", P, dev), { url: "rel/x", foreign: false });
  assertEquals(placeUrl(`${P}/x`, P, dev), { url: `${P}/x`, foreign: false });
});

Deno.test("foreignRedirect: a Location on a redirect or any Refresh that leads elsewhere", () => {
  const o = { device: dev, prefix: P };
  assertEquals(foreignRedirect(302, [["Location", "//evil/x"]], o), "//evil/x");
  assertEquals(foreignRedirect(201, [["Location", "//evil/x"]], o), null);
  assertEquals(foreignRedirect(200, [["Refresh", "0; http://evil/"]], o), "http://evil/");
  assertEquals(foreignRedirect(200, [["Refresh", "3;URL='//evil/'"]], o), "//evil/");
  assertEquals(foreignRedirect(200, [["Refresh", "5"]], o), null);
  assertEquals(foreignRedirect(302, [["Location", "/ok"]], o), null);
});
