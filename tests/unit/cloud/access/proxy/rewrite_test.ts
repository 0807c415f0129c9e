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
  assertStringIncludes(out, `href=${P}/css/a.css>`);
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
  assertStringIncludes(out, `src=${P}/y `);
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

Deno.test("HTML: a meta refresh that leads off the device points at the cloud's page, in every spelling", () => {
  const leave = (u: string) => `${P}/.nc-leaving?to=${encodeURIComponent(u)}`;
  const foreign: [string, string][] = [
    [`<meta http-equiv="refresh" content="0;url=http://192.0.2.1/">`, "http://192.0.2.1/"],
    [`<META HTTP-EQUIV=REFRESH CONTENT="0; URL=http://192.0.2.1/">`, "http://192.0.2.1/"],
    [`<meta http-equiv='Refresh' content='0 ; url = "//evil.example/x"'>`, "//evil.example/x"],
    [`<meta content="0;url=/\\evil.example/" http-equiv="refresh">`, "/\\evil.example/"],
    [`<meta http-equiv=refresh content=0;http://192.0.2.1/>`, "http://192.0.2.1/"],
    [`<meta http-equiv="refresh" content="0 http://192.0.2.1/">`, "http://192.0.2.1/"],
    [`<meta/http-equiv="refresh"/content="0;url=http://192.0.2.1/">`, "http://192.0.2.1/"],
    [`<meta http-equiv="&#114;efresh" content="0;url=http&#58;//192.0.2.1/">`, "http://192.0.2.1/"],
    [`<meta http-equiv="refresh" content="0;url=&sol;&sol;evil.example">`, "//evil.example"],
    [`<meta http-equiv="refresh" content="0;url=h&copy;ttp://x">`, "0;url=h&copy;ttp://x"],
    [`<meta http-equiv="refresh" content="0;url='//evil.example/x">`, "//evil.example/x"],
    [`<meta http-equiv="refresh" content="0;url=\thttp://192.0.2.1/">`, "http://192.0.2.1/"],
    [`<meta http-equiv="refresh" content="0;url=ht\ntp://192.0.2.1/">`, "ht\ntp://192.0.2.1/"],
  ];
  for (const [html, to] of foreign) {
    const out = rewriteHtml(`<body><p>x</p>${html}</body>`, o);
    assertStringIncludes(out, leave(to).replace(/&/g, "&amp;"), html);
    assertEquals(out.includes('192.0.2.1/"') || out.includes("url=//evil"), false, html);
  }
});

Deno.test("HTML: tags are found as a browser finds them (quoted >, short comments, svg style)", () => {
  const cases = [
    `<meta content="0;url=http://192.0.2.1/>" http-equiv="refresh">`,
    `<!--><meta http-equiv="refresh" content="0;url=http://192.0.2.1/">-->`,
    `<!---><meta http-equiv="refresh" content="0;url=http://192.0.2.1/">-->`,
    `<!-- x --!><meta http-equiv="refresh" content="0;url=http://192.0.2.1/">`,
    `<svg><style><meta http-equiv="refresh" content="0;url=http://192.0.2.1/"></style></svg>`,
    `</p title=">"><meta http-equiv="refresh" content="0;url=http://192.0.2.1/">`,
    `<iframe srcdoc="<meta http-equiv=refresh content='0;url=http://192.0.2.1/'>"></iframe>`,
  ];
  for (const html of cases) {
    const out = rewriteHtml(html, o);
    assertStringIncludes(out, `/.nc-leaving?to=`, html);
  }
  // Inside a real comment, script or textarea it is no tag, and it stays as it was.
  for (
    const html of [
      `<!-- <meta http-equiv="refresh" content="0;url=http://192.0.2.1/"> -->`,
      `<script>var s = '<meta http-equiv="refresh" content="0;url=http://192.0.2.1/">';</script>`,
      `<textarea><meta http-equiv="refresh" content="0;url=http://192.0.2.1/"></textarea>`,
    ]
  ) assertStringIncludes(rewriteHtml(html, o), html);
});

Deno.test("HTML: a refresh that stays on the device moves under the prefix; a reload stays", () => {
  assertStringIncludes(
    rewriteHtml(`<meta http-equiv="refresh" content="3;URL='http://192.0.2.10/a?b=1&amp;c=2'">`, o),
    `content="3; url=${P}/a?b=1&amp;c=2"`,
  );
  assertStringIncludes(
    rewriteHtml(`<meta http-equiv="refresh" content="10">`, o),
    `content="10"`,
  );
  assertStringIncludes(
    rewriteHtml(`<meta http-equiv="refresh" content="1; url=next.html">`, o),
    `content="1; url=next.html"`,
  );
});

Deno.test("XML documents (SVG, XHTML): a meta refresh inside any element is found", () => {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg"><script><meta ` +
    `xmlns="http://www.w3.org/1999/xhtml" http-equiv="refresh" content="0;url=http://192.0.2.1/"/>` +
    `</script></svg>`;
  const out = rewriteHtml(svg, { ...o, inject: "", xml: true });
  assertStringIncludes(out, `/.nc-leaving?to=`);
  assertEquals(out.startsWith("<svg"), true, "no shim in an SVG");
});

Deno.test("HTML: <svg a=b/> is no self-closing svg (the slash is the value's): a meta in its style counts", () => {
  const html = `<svg a=b/><style><meta http-equiv="refresh" content="0;url=http://192.0.2.1/">` +
    `</style></svg>`;
  assertStringIncludes(rewriteHtml(html, o), `/.nc-leaving?to=`);
});

Deno.test("HTML: character references in style and srcset are read once, not escaped twice", () => {
  const out = rewriteHtml(
    `<div style="background:url('/a?x=1&amp;y=2')"></div><img srcset="/i?a=1&amp;b=2 2x">`,
    o,
  );
  assertStringIncludes(out, `url('${P}/a?x=1&amp;y=2')`);
  assertStringIncludes(out, `srcset="${P}/i?a=1&amp;b=2 2x"`);
});
