import { assertEquals, assertStringIncludes } from "../../../../_fixtures/assert.ts";
import { rewriteCss, rewriteHtml } from "../../../../../src/cloud/access/proxy/rewrite.ts";
import type { DeviceOrigin } from "../../../../../src/cloud/access/proxy/headers.ts";

const dev: DeviceOrigin = { scheme: "http", host: "192.0.2.10", port: 80 };
const P = "/c/h-abcdefghijklmnopqrstuv";
const o = { prefix: P, device: dev, inject: "<script data-nc-proxy></script>" };

Deno.test("HTML: URL attributes, base, srcset, style, meta refresh; scripts untouched", () => {
  const html = `<!doctype html><html><head><base href="/"><meta http-equiv="refresh" ` +
    `content="5; url=/doc/login.asp"><link rel=stylesheet href=/css/a.css></head><body>` +
    `<a href="/doc/page.asp?a=1&amp;b=2">x</a><img src='/img/a.png' srcset="/img/a.png 1x, /img/b.png 2x">` +
    `<form action="http://192.0.2.10/login.cgi"><button formaction="/go">go</button></form>` +
    `<div style="background:url('/img/bg.png')"></div><a href="rel/x">r</a>` +
    `<a href="https://example.com/">ext</a><style>.a{background:url(/img/s.png)}</style>` +
    `<script>var u = "<a href='/not-rewritten'>";</script></body></html>`;
  const out = rewriteHtml(html, o);
  assertStringIncludes(out, `<head><script data-nc-proxy></script><base href="${P}/">`);
  assertStringIncludes(out, `content="5; url=${P}/doc/login.asp"`);
  assertStringIncludes(out, `href="${P}/css/a.css"`);
  assertStringIncludes(out, `href="${P}/doc/page.asp?a=1&amp;b=2"`);
  assertStringIncludes(out, `src='${P}/img/a.png'`);
  assertStringIncludes(out, `srcset="${P}/img/a.png 1x, ${P}/img/b.png 2x"`);
  assertStringIncludes(out, `action="${P}/login.cgi"`);
  assertStringIncludes(out, `formaction="${P}/go"`);
  assertStringIncludes(out, `url('${P}/img/bg.png')`);
  assertStringIncludes(out, `href="rel/x"`);
  assertStringIncludes(out, `href="https://example.com/"`);
  assertStringIncludes(out, `url(${P}/img/s.png)`);
  assertStringIncludes(out, `"<a href='/not-rewritten'>"`);
});

Deno.test("HTML: the shim goes first even without a head; fragments get it too", () => {
  assertEquals(rewriteHtml("<p>hi</p>", o), "<script data-nc-proxy></script><p>hi</p>");
  assertEquals(rewriteHtml("plain text", o), "<script data-nc-proxy></script>plain text");
  assertEquals(
    rewriteHtml("<html><body><p>x</p></body></html>", o),
    "<html><script data-nc-proxy></script><body><p>x</p></body></html>",
  );
});

Deno.test("HTML: hostile markup does not break the scan", () => {
  const weird = `<a href="/x" <<<>>> <img src=/y onerror="alert(1)"> <!-- <a href="/c"> --> ` +
    `<a href='/q"'>`;
  const out = rewriteHtml(weird, o);
  assertStringIncludes(out, `src="${P}/y"`);
  assertStringIncludes(out, `<!-- <a href="/c"> -->`);
  rewriteHtml("<".repeat(10_000) + "a href=/x>", o);
});

Deno.test("CSS: url() and @import", () => {
  assertEquals(
    rewriteCss(`a{b:url(/x.png)} c{d:url("http://192.0.2.10/y.png")} @import "/z.css";`, P, dev),
    `a{b:url(${P}/x.png)} c{d:url("${P}/y.png")} @import "${P}/z.css";`,
  );
  assertEquals(
    rewriteCss("a{b:url(data:image/png;base64,AAA)}", P, dev),
    "a{b:url(data:image/png;base64,AAA)}",
  );
});
