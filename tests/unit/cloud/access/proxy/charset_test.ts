import { assertEquals } from "../../../../_fixtures/assert.ts";
import {
  pageEncoding,
  sniffsAsHtml,
  utf8ContentType,
} from "../../../../../src/cloud/access/proxy/charset.ts";
import { rewriteHtml } from "../../../../../src/cloud/access/proxy/rewrite.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("page encoding: BOM, then the header's charset, then <meta charset>, then a guess", () => {
  assertEquals(pageEncoding("text/html", new Uint8Array([0xff, 0xfe, 0x3c, 0])), "utf-16le");
  assertEquals(pageEncoding("text/html; charset=gbk", new Uint8Array([0xfe, 0xff])), "utf-16be");
  assertEquals(pageEncoding('text/html; charset="GB2312"', ascii("<p>")), "gb2312");
  assertEquals(pageEncoding("text/html", ascii(`<meta charset="shift_jis"><p>`)), "shift_jis");
  assertEquals(pageEncoding("text/html", ascii(`<meta charset="utf-16"><p>`)), "utf-8");
  assertEquals(pageEncoding("text/html; charset=bogus", ascii("<p>é</p>")), "utf-8");
  assertEquals(pageEncoding("text/html", new Uint8Array([0x3c, 0x70, 0x3e, 0xe9])), "windows-1252");
  assertEquals(utf8ContentType("text/html; charset=gb2312"), "text/html; charset=utf-8");
  assertEquals(utf8ContentType("text/html"), "text/html; charset=utf-8");
});

Deno.test("a UTF-16 page's meta refresh is seen, and a GB2312 page keeps its characters", () => {
  const o = {
    prefix: "/c/h-abcdefghijk",
    device: { scheme: "http" as const, host: "192.0.2.10", port: 80 },
    inject: "",
  };
  const page = `<meta http-equiv="refresh" content="0;url=http://192.0.2.1/"><p>x</p>`;
  const utf16 = new Uint8Array(2 + page.length * 2);
  utf16.set([0xff, 0xfe]);
  for (let i = 0; i < page.length; i++) utf16[2 + 2 * i] = page.charCodeAt(i);
  const text = new TextDecoder(pageEncoding("text/html", utf16)).decode(utf16);
  assertEquals(rewriteHtml(text, o).includes("/.nc-leaving?to="), true);
  // "中文" in GB2312, as a Chinese camera serves it.
  const gb = new Uint8Array([0x3c, 0x70, 0x3e, 0xd6, 0xd0, 0xce, 0xc4, 0x3c, 0x2f, 0x70, 0x3e]);
  assertEquals(
    new TextDecoder(pageEncoding("text/html; charset=gb2312", gb)).decode(gb),
    "<p>中文</p>",
  );
});

Deno.test("untyped bodies: sniffed as HTML only where a browser would", () => {
  assertEquals(sniffsAsHtml(ascii("  \n<HTML><meta>")), true);
  assertEquals(sniffsAsHtml(ascii("<!DOCTYPE html>")), true);
  assertEquals(sniffsAsHtml(ascii("<p>x")), true);
  assertEquals(sniffsAsHtml(ascii("<pre>x")), false);
  assertEquals(sniffsAsHtml(ascii("x<html>")), false);
  assertEquals(sniffsAsHtml(new Uint8Array([0xff, 0xd8, 0xff])), false);
});
