/**
 * Rewrites what a device serves so it works under `/c/{h}/`: URL-bearing HTML attributes
 * (href, src, action, formaction, poster, srcset, …), `<base href>`, `<meta http-equiv=refresh>`,
 * inline `style` and `<style>` blocks, `<iframe srcdoc>`, and CSS `url()`/`@import`. Only
 * root-relative paths and absolute URLs naming the device move; relative URLs already resolve
 * under the prefix. A `<meta http-equiv=refresh>` that leads anywhere else — read as a browser
 * reads it, in any spelling — is pointed at the cloud's "not followed" page instead
 * (`leaving.ts`), so no device page can send the browser away from the cloud's origin by
 * markup. Tags are found the way a browser's tokenizer finds them (`html_tokens.ts`); script
 * bodies are left alone (JavaScript is handled at run time by the injected shim).
 * @module
 */
import {
  type DeviceOrigin,
  foreignRefresh,
  parseRefresh,
  placeUrl,
  urlToProxy,
} from "./headers.ts";
import { decodeAttr, type HtmlAttr, htmlTokens } from "./html_tokens.ts";
import { leavingUrl } from "./leaving.ts";

const URL_ATTRS = new Set([
  "href",
  "src",
  "action",
  "formaction",
  "poster",
  "data",
  "background",
  "cite",
  "longdesc",
  "usemap",
  "manifest",
  "icon",
  "codebase",
  "lowsrc",
  "dynsrc",
  "xlink:href",
]);

/** Rewrites CSS text: `url(...)` and `@import "..."`. */
export function rewriteCss(css: string, prefix: string, device: DeviceOrigin): string {
  return css
    .replace(
      /url\(\s*(['"]?)([^'")]+)\1\s*\)/gi,
      (_m, q, u) => `url(${q}${urlToProxy(u, prefix, device)}${q})`,
    )
    .replace(
      /@import\s+(['"])([^'"]+)\1/gi,
      (_m, q, u) => `@import ${q}${urlToProxy(u, prefix, device)}${q}`,
    );
}

function rewriteSrcset(v: string, prefix: string, device: DeviceOrigin): string {
  return v.split(",").map((part) => {
    const p = part.trim();
    const sp = p.search(/\s/);
    return sp < 0
      ? urlToProxy(p, prefix, device)
      : urlToProxy(p.slice(0, sp), prefix, device) + p.slice(sp);
  }).join(", ");
}

function decodeEntities(s: string): string {
  return decodeAttr(s).text;
}

/** Whether a meta element's http-equiv (its first one, as browsers take it) may be a refresh. */
function isRefreshMeta(attrs: HtmlAttr[]): boolean {
  const he = attrs.find((a) => a.name === "http-equiv");
  if (!he || he.value === null) return false;
  const d = decodeAttr(he.value);
  return d.uncertain || d.text.trim().toLowerCase() === "refresh";
}

/** The content of a refresh meta as it may reach the browser. */
function refreshContent(raw: string, prefix: string, device: DeviceOrigin): string {
  const { text, uncertain } = decodeAttr(raw);
  const away = uncertain ? text : foreignRefresh(text, prefix, device);
  const r = parseRefresh(text);
  if (away !== null) return `${r.delay || "0"}; url=${leavingUrl(prefix, away)}`;
  if (!r.valid || r.url === null) return text;
  return `${r.delay}; url=${placeUrl(r.url, prefix, device).url}`;
}

function rewriteTag(
  src: string,
  tag: { name: string; attrs: HtmlAttr[]; start: number; end: number },
  o: HtmlRewriteOptions,
): string {
  const { prefix, device } = o;
  const refresh = tag.name === "meta" && isRefreshMeta(tag.attrs);
  let out = "";
  let at = tag.start;
  for (const a of tag.attrs) {
    if (a.value === null) continue;
    const value = a.value;
    let next: string | null = null;
    if (URL_ATTRS.has(a.name)) next = urlToProxy(decodeEntities(value), prefix, device);
    else if (a.name === "srcset" || a.name === "imagesrcset") {
      next = rewriteSrcset(decodeEntities(value), prefix, device);
    } else if (a.name === "style") next = rewriteCss(decodeEntities(value), prefix, device);
    else if (a.name === "content" && refresh) next = refreshContent(value, prefix, device);
    else if (a.name === "srcdoc" && tag.name === "iframe") {
      next = rewriteHtml(decodeEntities(value), o);
    }
    if (next === null || next === value) continue;
    const name = src.slice(a.start, a.start + a.name.length);
    if (!a.quote && /^[^\s"'=<>`&]+$/.test(next)) {
      // Unquoted stays unquoted when it can (markup inside a script string keeps its quotes).
      out += src.slice(at, a.start) + `${name}=${next}`;
      at = a.end;
      continue;
    }
    const quote = a.quote || '"';
    const escaped = next.replace(/&/g, "&amp;").replace(
      quote === '"' ? /"/g : /'/g,
      (c) => c === '"' ? "&quot;" : "&#39;",
    );
    out += src.slice(at, a.start) + `${name}=${quote}${escaped}${quote}`;
    at = a.end;
  }
  return out + src.slice(at, tag.end);
}

/** Options of the HTML rewrite. */
export interface HtmlRewriteOptions {
  prefix: string;
  device: DeviceOrigin;
  /** Markup inserted first thing in the document (the run-time shim); "" for none. */
  inject: string;
  /** An XML document (XHTML, SVG): no element's content is raw text. */
  xml?: boolean;
}

/** Rewrites an HTML document and injects the shim before any of the page's own scripts. */
export function rewriteHtml(html: string, o: HtmlRewriteOptions): string {
  const out: string[] = [];
  let injected = false;
  const inject = () => {
    if (injected) return;
    injected = true;
    out.push(o.inject);
  };
  for (const t of htmlTokens(html, o.xml)) {
    if (t.kind === "start") {
      // The first element that is not <html>/<head>: the shim goes right before it.
      if (!injected && t.name !== "html" && t.name !== "head") inject();
      out.push(rewriteTag(html, t, o));
      if (t.name === "head") inject();
    } else if (t.kind === "raw" && t.element === "style") {
      out.push(rewriteCss(html.slice(t.start, t.end), o.prefix, o.device));
    } else {
      out.push(html.slice(t.start, t.end));
    }
  }
  if (!injected && o.inject) out.unshift(o.inject);
  return out.join("");
}
