/**
 * Splits a device's HTML into the pieces a browser's tokenizer would see — text, comments,
 * doctypes, start tags with their attributes, end tags — so the rewrite (`rewrite.ts`) finds
 * every tag the browser will act on, `<meta http-equiv=refresh>` above all. It follows the HTML
 * tokenizer where a naive scan goes wrong: a `>` inside a quoted attribute value does not end
 * the tag, `<!-->` and `<!--->` are whole (empty) comments and `--!>` ends one, end tags may
 * carry quoted attributes, and the raw-text elements (script, style, textarea, title, …) end
 * only at their own end tag — except inside `<svg>`/`<math>`, where they are ordinary elements
 * and a `<meta>` in them still counts. Where it differs from a browser it errs towards seeing
 * more tags (their contents are then rewritten too), never fewer. In XML documents (XHTML,
 * SVG) no element is raw text — a `<meta>` inside a `<script>` is an element there — so `xml`
 * turns that off. Attribute values come with their character references decoded as far as URL
 * parsing can tell.
 * @module
 */

/** One attribute of a tag, with where it sits in the source. */
export interface HtmlAttr {
  /** The name, lower-cased. */
  name: string;
  /** The raw value (character references not decoded); null when the attribute has none. */
  value: string | null;
  /** The quote around the value in the source ("" when unquoted or absent). */
  quote: string;
  /** Offset of the attribute's name in the source. */
  start: number;
  /** Offset just after the attribute (after its closing quote, if any). */
  end: number;
}

/** A piece of the document; `start`/`end` are offsets in the source. */
export type HtmlToken =
  | { kind: "text" | "comment" | "markup"; start: number; end: number }
  | { kind: "start"; name: string; attrs: HtmlAttr[]; start: number; end: number }
  | { kind: "end"; name: string; start: number; end: number }
  | { kind: "raw"; element: string; start: number; end: number };

/** Elements whose content is not markup (in HTML content). */
const RAW_TEXT = new Set([
  "script",
  "style",
  "textarea",
  "title",
  "xmp",
  "iframe",
  "noembed",
  "noframes",
]);

/** Start tags that end `<svg>`/`<math>` content (the HTML parser "breaks out" for them). */
const BREAKOUT = new Set(
  ("b big blockquote body br center code dd div dl dt em embed h1 h2 h3 h4 h5 h6 head hr i img " +
    "li listing menu meta nobr ol p pre ruby s small span strong strike sub sup table tt u ul var")
    .split(" "),
);

function isWs(c: string): boolean {
  return c === " " || c === "\t" || c === "\n" || c === "\f" || c === "\r";
}

function isAlpha(c: string | undefined): boolean {
  return c !== undefined && ((c >= "a" && c <= "z") || (c >= "A" && c <= "Z"));
}

/** Parses the tag at `i` (`<name` or `</name`); null when the document ends inside it. */
function parseTag(
  s: string,
  i: number,
  closing: boolean,
): { name: string; attrs: HtmlAttr[]; end: number } | null {
  const n = s.length;
  let p = i + (closing ? 2 : 1);
  const nameStart = p;
  while (p < n && !isWs(s[p]) && s[p] !== "/" && s[p] !== ">") p++;
  const name = s.slice(nameStart, p).toLowerCase();
  const attrs: HtmlAttr[] = [];
  for (;;) {
    while (p < n && (isWs(s[p]) || s[p] === "/")) p++;
    if (p >= n) return null;
    if (s[p] === ">") return { name, attrs, end: p + 1 };
    const start = p;
    p++; // the first character may be anything else, "=" included
    while (p < n && !isWs(s[p]) && s[p] !== "/" && s[p] !== ">" && s[p] !== "=") p++;
    const aName = s.slice(start, p).toLowerCase();
    let q = p;
    while (q < n && isWs(s[q])) q++;
    if (q >= n) return null;
    if (s[q] !== "=") {
      attrs.push({ name: aName, value: null, quote: "", start, end: p });
      p = q;
      continue;
    }
    q++;
    while (q < n && isWs(s[q])) q++;
    if (q >= n) return null;
    const c = s[q];
    if (c === '"' || c === "'") {
      const close = s.indexOf(c, q + 1);
      if (close < 0) return null;
      attrs.push({ name: aName, value: s.slice(q + 1, close), quote: c, start, end: close + 1 });
      p = close + 1;
    } else if (c === ">") {
      attrs.push({ name: aName, value: "", quote: "", start, end: q });
      p = q;
    } else {
      let e = q;
      while (e < n && !isWs(s[e]) && s[e] !== ">") e++;
      attrs.push({ name: aName, value: s.slice(q, e), quote: "", start, end: e });
      p = e;
    }
  }
}

/** Where a comment starting at `i` (`<!--`) ends (just after it; the end of `s` if never). */
function commentEnd(s: string, i: number): number {
  const p = i + 4;
  if (s.startsWith(">", p)) return p + 1; // <!-->
  if (s.startsWith("->", p)) return p + 2; // <!--->
  for (let k = p; k < s.length; k++) {
    if (s[k] !== "-" || s[k + 1] !== "-") continue;
    if (s[k + 2] === ">") return k + 3;
    if (s[k + 2] === "!" && s[k + 3] === ">") return k + 4;
  }
  return s.length;
}

/** Where the raw text of `element` starting at `i` ends (at its end tag, or the end of `s`). */
function rawEnd(s: string, lower: string, i: number, element: string): number {
  const needle = `</${element}`;
  for (let k = lower.indexOf(needle, i); k >= 0; k = lower.indexOf(needle, k + 1)) {
    const after = s[k + needle.length];
    if (after === undefined || after === ">" || after === "/" || isWs(after)) return k;
  }
  return s.length;
}

/**
 * The document's tokens, in order, covering every character of `s` exactly once; `xml` for an
 * XML document (no raw-text elements).
 */
export function* htmlTokens(s: string, xml = false): Generator<HtmlToken> {
  const n = s.length;
  let i = 0;
  let text = 0;
  let foreign = 0;
  let lower: string | null = null;
  while (i < n) {
    const lt = s.indexOf("<", i);
    if (lt < 0) break;
    const next = s[lt + 1];
    let tok: HtmlToken | null = null;
    if (next === "!") {
      const end = s.startsWith("--", lt + 2) ? commentEnd(s, lt) : markupEnd(s, lt);
      tok = { kind: s.startsWith("--", lt + 2) ? "comment" : "markup", start: lt, end };
    } else if (next === "?") {
      tok = { kind: "markup", start: lt, end: markupEnd(s, lt) };
    } else if (next === "/" && isAlpha(s[lt + 2])) {
      const t = parseTag(s, lt, true);
      if (!t) break; // the document ends inside the tag: a browser drops it
      tok = { kind: "end", name: t.name, start: lt, end: t.end };
      if (foreign > 0 && (t.name === "svg" || t.name === "math")) foreign--;
    } else if (next === "/" && s[lt + 2] !== ">") {
      tok = { kind: "markup", start: lt, end: markupEnd(s, lt) };
    } else if (isAlpha(next)) {
      const t = parseTag(s, lt, false);
      if (!t) break;
      tok = { kind: "start", name: t.name, attrs: t.attrs, start: lt, end: t.end };
    }
    if (!tok) {
      i = lt + 1;
      continue;
    }
    if (text < tok.start) yield { kind: "text", start: text, end: tok.start };
    yield tok;
    i = text = tok.end;
    if (tok.kind !== "start") continue;
    const name = tok.name;
    // `<svg a=b/>` is not self-closing: the slash belongs to the unquoted value.
    const last = tok.attrs.at(-1);
    const slashInValue = last !== undefined && last.quote === "" && last.value !== null &&
      last.end === tok.end - 1;
    const selfClosing = s[tok.end - 2] === "/" && !slashInValue;
    if (name === "svg" || name === "math") {
      if (!selfClosing) foreign++;
    } else if (foreign > 0 && BREAKOUT.has(name)) {
      foreign = 0;
    } else if (!xml && foreign === 0 && RAW_TEXT.has(name)) {
      // ASCII only: a full toLowerCase may change the length and so every offset.
      lower ??= s.replace(/[A-Z]+/g, (c) => c.toLowerCase());
      const end = rawEnd(s, lower, i, name);
      if (end > i) yield { kind: "raw", element: name, start: i, end };
      i = text = end;
    }
  }
  if (text < n) yield { kind: "text", start: text, end: n };
}

/** Bogus comments, doctypes and CDATA in HTML content end at the first `>`. */
function markupEnd(s: string, i: number): number {
  const gt = s.indexOf(">", i + 2);
  return gt < 0 ? s.length : gt + 1;
}

/** Character references that stand for ASCII characters (the ones that can shape a URL). */
const NAMED: Record<string, string> = {
  Tab: "\t",
  NewLine: "\n",
  excl: "!",
  quot: '"',
  QUOT: '"',
  num: "#",
  dollar: "$",
  percnt: "%",
  amp: "&",
  AMP: "&",
  apos: "'",
  lpar: "(",
  rpar: ")",
  ast: "*",
  midast: "*",
  plus: "+",
  comma: ",",
  period: ".",
  sol: "/",
  colon: ":",
  semi: ";",
  lt: "<",
  LT: "<",
  equals: "=",
  gt: ">",
  GT: ">",
  quest: "?",
  commat: "@",
  lsqb: "[",
  lbrack: "[",
  bsol: "\\",
  rsqb: "]",
  rbrack: "]",
  Hat: "^",
  lowbar: "_",
  UnderBar: "_",
  grave: "`",
  DiacriticalGrave: "`",
  lcub: "{",
  lbrace: "{",
  verbar: "|",
  vert: "|",
  VerticalLine: "|",
  rcub: "}",
  rbrace: "}",
  fjlig: "fj",
  nbsp: "\u00a0",
  NonBreakingSpace: "\u00a0",
};

/** References a browser also decodes without the `;` (outside `=`/alphanumeric context). */
const LEGACY = new Set(["amp", "AMP", "lt", "LT", "gt", "GT", "quot", "QUOT", "nbsp"]);

/**
 * An attribute value with its character references decoded: numeric ones and every named one
 * that stands for an ASCII character. `uncertain` is true when a named reference was left as
 * it was (it may stand for something this table does not know), so a caller deciding where a
 * URL leads can refuse to guess.
 */
export function decodeAttr(v: string): { text: string; uncertain: boolean } {
  let uncertain = false;
  const text = v.replace(
    /&(?:#([0-9]+);?|#[xX]([0-9a-fA-F]+);?|([A-Za-z][A-Za-z0-9]*)(;?))/g,
    (m, dec: string | undefined, hex: string | undefined, name: string | undefined, semi, off) => {
      if (dec !== undefined || hex !== undefined) {
        const cp = dec !== undefined ? parseInt(dec.slice(-8), 10) : parseInt(hex!.slice(-7), 16);
        const huge = (dec ?? hex!).replace(/^0+/, "").length > (dec !== undefined ? 7 : 6);
        if (huge || cp === 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return "\ufffd";
        return String.fromCodePoint(cp);
      }
      if (semi) {
        const hit = NAMED[name!];
        if (hit !== undefined) return hit;
        uncertain = true;
        return m;
      }
      // Without ";": decoded only when a legacy name and not followed by "=" or a letter/digit.
      const after = v[off + m.length];
      if (LEGACY.has(name!) && !(after && /[=A-Za-z0-9]/.test(after))) return NAMED[name!];
      return m;
    },
  );
  return { text, uncertain };
}
