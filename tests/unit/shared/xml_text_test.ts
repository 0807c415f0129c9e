// The SOAP reader's blocks (src/shared/xml_text.ts `xmlBlocks`): what cameras and LAN devices
// answer, read as before — any prefix, the closing tag with the opening tag's, a body ending at
// the first close, at most 16 KiB — checked against the lazy regular expression it replaced on
// thousands of seeded documents; self-closing tags have no body; and a hostile answer of opening
// tags without their close (which held the event loop 1.4 s a call) is given up after 64. Character
// references to no character (a surrogate's above all) are dropped.
import { assert, assertEquals } from "../../_fixtures/assert.ts";
import {
  decodeXmlEntities,
  XML_BLOCK_MAX,
  XML_UNCLOSED_MAX,
  xmlBlocks,
} from "../../../src/shared/xml_text.ts";

/** The reading it replaced (quadratic on unclosed opening tags). */
function lazyRegexBlocks(xml: string, name: string, max: number): string[] {
  const re = new RegExp(
    `<((?:[A-Za-z_][\\w.-]{0,40}:)?)${name}(?:\\s[^<>]{0,1024})?>([\\s\\S]{0,${XML_BLOCK_MAX}}?)</\\1${name}\\s*>`,
    "g",
  );
  const out: string[] = [];
  for (const m of xml.matchAll(re)) {
    out.push(m[2]);
    if (out.length >= max) break;
  }
  return out;
}

Deno.test("xmlBlocks: prefixes, the opening tag's close, the first close, white space, the limit", () => {
  assertEquals(
    xmlBlocks(`<trt:Profiles token="a">x</trt:Profiles><Profiles>y</Profiles >`, "Profiles", 9),
    ["x", "y"],
  );
  assertEquals(xmlBlocks("<a:X>1</b:X></a:X>", "X", 9), ["1</b:X>"]);
  assertEquals(xmlBlocks("<X><X>in</X>out</X>", "X", 9), ["<X>in"]);
  assertEquals(xmlBlocks("<X>a</XY></X\n\t>", "X", 9), ["a</XY>"]);
  assertEquals(xmlBlocks("<X>1</X><X>2</X><X>3</X>", "X", 2), ["1", "2"]);
  // A self-closing tag has no body, and does not swallow the element after it.
  assertEquals(xmlBlocks(`<X a="1"/><X>b</X>`, "X", 9), ["b"]);
  // A body of the limit is read; one longer is not, and the next element still is.
  const full = "z".repeat(XML_BLOCK_MAX);
  assertEquals(xmlBlocks(`<X>${full}</X>`, "X", 9), [full]);
  assertEquals(xmlBlocks(`<X>${full}z</X><X>next</X>`, "X", 9), ["next"]);
});

Deno.test("xmlBlocks: the same blocks as the lazy regular expression on seeded documents", () => {
  let seed = 20261206;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const parts = [
    "<X>",
    "</X>",
    '<p:X a="1">',
    "</p:X >",
    "</q:X>",
    "<X\n>",
    "</X",
    "</XY>",
    "<Y>",
    "</Y>",
    "text",
    " ",
    "&amp;",
    "<",
    ">",
  ];
  for (let doc = 0; doc < 5_000; doc++) {
    let xml = "";
    for (let n = rand(30); n > 0; n--) xml += parts[rand(parts.length)];
    if (rand(10) === 0) xml += "w".repeat(XML_BLOCK_MAX - 2 + rand(5)) + "</X>";
    const max = 1 + rand(5);
    assertEquals(xmlBlocks(xml, "X", max), lazyRegexBlocks(xml, "X", max), xml.slice(0, 300));
  }
});

Deno.test("xmlBlocks: an answer of opening tags without their close is given up, not scanned again and again", () => {
  // What a hostile camera sends as 256 KiB: nothing to read.
  assertEquals(xmlBlocks("<Profiles>".repeat(26_000), "Profiles", 16), []);
  assertEquals(xmlBlocks(`<tt:Preset token="p">`.repeat(12_000), "Preset", 16), []);
  // Fewer unclosed than the limit: what follows is read; at the limit, it is not.
  const after = (n: number) => xmlBlocks("<a:X>".repeat(n) + "<X>good</X>", "X", 9);
  assertEquals(after(XML_UNCLOSED_MAX - 1), ["good"]);
  assertEquals(after(XML_UNCLOSED_MAX), []);
});

Deno.test("references to no character are dropped: 0, past U+10FFFF, and UTF-16 surrogates", () => {
  assertEquals(
    decodeXmlEntities("&lt;a&#65;&#x42;&#0;&#x110000;&#xD800;&#56320;&#x1F600;&amp;&bogus;"),
    "<aAB😀&&bogus;",
  );
  // What is left is well-formed, so any UTF-8 encoder writes it.
  assert(decodeXmlEntities("x&#xDBFF;&#xDC00;y").isWellFormed());
});
